package dev.tornadovit.data;

import dev.tornadovit.io.IoErrors;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.color.ColorSpace;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Loads images laid out as {@code root/<class name>/<image>.png|jpg|jpeg}. Class folders sorted by name give the
 * class indices; images within a class are taken in name order. Every image is resized (bilinear) to the
 * requested size and converted to grey (1 channel) or RGB (3 channels). Hidden files and files with other
 * extensions are skipped; class folders are not searched recursively.
 */
public final class ImageFolderDataset {

    private static final List<String> IMAGE_EXTENSIONS = List.of(".png", ".jpg", ".jpeg");

    private ImageFolderDataset() {
    }

    public static ImageDataset load(Path root, int height, int width, int channels) {
        return load(root, height, width, channels, 0, null, null);
    }

    /**
     * As {@link #load(Path, int, int, int)}, with two options.
     *
     * @param cropFraction in (0, 1]: each image is resized to cover (height, width) / cropFraction keeping its aspect
     *                     ratio (for a square input: its shorter side) and the centre height×width cut out, as timm's
     *                     evaluation transform with {@code crop_pct}; 0 stretches it to height×width
     * @param classes      the class names fixed beforehand by a training set or a checkpoint, or null to take them
     *                     from {@code root}: {@code root} must then hold exactly these class folders, and class i is
     *                     {@code classes.get(i)} (a test folder that lacked a class, or had one more, would otherwise
     *                     number its classes on its own and mislabel every image)
     * @param classesFrom  where {@code classes} came from, for the message (e.g. the training folder)
     */
    public static ImageDataset load(Path root, int height, int width, int channels, double cropFraction,
                                    List<String> classes, String classesFrom) {
        if (channels != 1 && channels != 3) {
            throw new IllegalArgumentException("channels must be 1 (grey) or 3 (RGB), was " + channels);
        }
        if (height <= 0 || width <= 0) {
            throw new IllegalArgumentException("image size must be positive, was " + height + "×" + width);
        }
        if (!Files.isDirectory(root)) {
            throw new DataFormatException(root + ": not a directory; expected one subfolder per class");
        }
        List<Path> classDirs = list(root).filter(Files::isDirectory).toList();
        if (classDirs.isEmpty()) {
            throw new DataFormatException(root + ": no class subfolders found; expected one subfolder per class, "
                    + "each holding PNG or JPEG images");
        }
        List<String> found = classDirs.stream().map(d -> d.getFileName().toString()).toList();
        List<String> classNames = classes == null ? found : List.copyOf(classes);
        if (classes != null) requireSameClasses(root, found, classes, classesFrom);
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (Path classDir : classDirs) {
            List<Path> images = list(classDir).filter(ImageFolderDataset::isImageFile).toList();
            if (images.isEmpty()) {
                throw new DataFormatException(classDir + ": class folder holds no images; expected at least one "
                        + "file ending in .png, .jpg or .jpeg");
            }
            int label = classNames.indexOf(classDir.getFileName().toString());
            for (Path image : images) {
                files.add(image);
                labels.add(label);
            }
        }
        if ((long) channels * height * width > Integer.MAX_VALUE - 8) {
            throw new DataFormatException(root + ": images of " + channels + "×" + height + "×" + width
                    + " values are more than fit in one array; choose a smaller image size");
        }
        int imageSize = channels * height * width;
        if ((long) files.size() * imageSize > Integer.MAX_VALUE - 8) {
            throw new DataFormatException(root + ": " + files.size() + " images of " + channels + "×" + height + "×"
                    + width + " are more than fit in one array");
        }
        byte[] pixels = new byte[files.size() * imageSize];
        // Decoding dominates; each image writes only its own slice, so the result does not depend on scheduling.
        IntStream.range(0, files.size()).parallel().forEach(i -> {
            BufferedImage image = read(files.get(i));
            writeResized(image, channels, height, width, cropFraction, pixels, i * imageSize);
        });
        int[] labelArray = labels.stream().mapToInt(Integer::intValue).toArray();
        return new ImageDataset(channels, height, width, classNames, pixels, labelArray);
    }

    /**
     * Reads individual image files (for prediction), resized to height×width with the given channels, in the order
     * given. Labels are all 0 and the single class is named "unlabelled".
     */
    public static ImageDataset loadFiles(List<Path> files, int height, int width, int channels) {
        return loadFiles(files, height, width, channels, 0);
    }

    /** As {@link #loadFiles(List, int, int, int)}, resized and centre-cropped as {@link #load(Path, int, int, int, double)}. */
    public static ImageDataset loadFiles(List<Path> files, int height, int width, int channels, double cropFraction) {
        if (files.isEmpty()) throw new IllegalArgumentException("no image files given");
        if ((long) files.size() * channels * height * width > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(files.size() + " images of " + channels + "×" + height + "×" + width
                    + " are more than fit in one array; give fewer images at a time");
        }
        int imageSize = channels * height * width;
        byte[] pixels = new byte[files.size() * imageSize];
        for (int i = 0; i < files.size(); i++) {
            Path file = files.get(i);
            if (!Files.isRegularFile(file)) throw new DataFormatException(file + ": no such image file");
            writeResized(read(file), channels, height, width, cropFraction, pixels, i * imageSize);
        }
        return new ImageDataset(channels, height, width, List.of("unlabelled"), pixels, new int[files.size()]);
    }

    private static void requireSameClasses(Path root, List<String> found, List<String> expected, String expectedFrom) {
        List<String> missing = expected.stream().filter(c -> !found.contains(c)).toList();
        List<String> extra = found.stream().filter(c -> !expected.contains(c)).toList();
        if (missing.isEmpty() && extra.isEmpty()) return;
        StringBuilder sb = new StringBuilder(root + ": its class folders differ from the " + expected.size()
                + " classes of " + expectedFrom + ":");
        if (!missing.isEmpty()) sb.append(" missing ").append(String.join(", ", missing));
        if (!missing.isEmpty() && !extra.isEmpty()) sb.append(";");
        if (!extra.isEmpty()) sb.append(" extra ").append(String.join(", ", extra));
        throw new DataFormatException(sb.append(" (both must hold the same class subfolders)").toString());
    }

    /** Directory entries sorted by name with String order, which unlike the file system's is the same everywhere. */
    private static Stream<Path> list(Path dir) {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()))
                    .toList().stream();
        } catch (IOException e) {
            throw new DataFormatException(dir + ": cannot list directory: " + IoErrors.reason(e), e);
        } catch (UncheckedIOException e) {
            throw new DataFormatException(dir + ": cannot list directory: " + IoErrors.reason(e.getCause()), e);
        }
    }

    private static boolean isImageFile(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(file) && IMAGE_EXTENSIONS.stream().anyMatch(name::endsWith);
    }

    /**
     * The most pixels an image may have: decoding converts it to float planes (12 bytes a pixel for RGB), so a header
     * that claims more, which a corrupt file easily does, is refused before anything is allocated.
     */
    static final long MAX_PIXELS = 1L << 26;

    private static BufferedImage read(Path file) {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext()) {
                throw new DataFormatException(file + ": unreadable image: not a PNG or JPEG file ImageIO can decode");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                int width = reader.getWidth(0), height = reader.getHeight(0);
                if (width <= 0 || height <= 0 || (long) width * height > MAX_PIXELS) {
                    throw new DataFormatException(String.format(Locale.ROOT, "%s: the image header says %d×%d pixels; "
                            + "expected at most %,d pixels (a corrupt file, or an image to shrink first)", file, width,
                            height, MAX_PIXELS));
                }
                BufferedImage image = reader.read(0);
                if (image == null) throw new DataFormatException(file + ": unreadable image: no image data");
                return image;
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof DataFormatException d) throw d;
            throw new DataFormatException(file + ": unreadable image: " + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()), e);
        }
    }

    /**
     * Converts to planes of 0..255 values, then resizes. Grey images are read from the raster directly: going
     * through getRGB would apply Java2D's linear-grey to sRGB conversion and change their values.
     */
    private static void writeResized(BufferedImage image, int channels, int height, int width, double cropFraction,
                                     byte[] dst, int offset) {
        int srcHeight = image.getHeight();
        int srcWidth = image.getWidth();
        int planeSize = srcHeight * srcWidth;
        float[] planes = new float[channels * planeSize];
        Raster raster = image.getRaster();
        boolean rawGrey = !(image.getColorModel() instanceof IndexColorModel)
                && image.getColorModel().getColorSpace().getType() == ColorSpace.TYPE_GRAY;
        if (rawGrey) {
            boolean hasAlpha = image.getColorModel().hasAlpha();
            float greyMax = (1 << image.getColorModel().getComponentSize(0)) - 1;
            float alphaMax = hasAlpha ? (1 << image.getColorModel().getComponentSize(1)) - 1 : 1;
            for (int y = 0; y < srcHeight; y++) {
                for (int x = 0; x < srcWidth; x++) {
                    // Transparent areas are composited over black.
                    float alpha = hasAlpha ? raster.getSample(x, y, 1) / alphaMax : 1f;
                    float grey = raster.getSample(x, y, 0) * 255f / greyMax * alpha;
                    for (int c = 0; c < channels; c++) {
                        planes[c * planeSize + y * srcWidth + x] = grey;
                    }
                }
            }
        } else {
            int[] argb = image.getRGB(0, 0, srcWidth, srcHeight, null, 0, srcWidth);
            for (int p = 0; p < planeSize; p++) {
                int v = argb[p];
                float alpha = (v >>> 24) / 255f;
                float r = (v >> 16 & 0xFF) * alpha;
                float g = (v >> 8 & 0xFF) * alpha;
                float b = (v & 0xFF) * alpha;
                if (channels == 3) {
                    planes[p] = r;
                    planes[planeSize + p] = g;
                    planes[2 * planeSize + p] = b;
                } else {
                    planes[p] = 0.299f * r + 0.587f * g + 0.114f * b; // ITU-R BT.601 luma
                }
            }
        }
        if (cropFraction > 0) {
            // timm: Resize(floor(size / crop_pct)) on the shorter side, then CenterCrop(size)
            double scale = Math.max(Math.floor(height / cropFraction) / srcHeight, Math.floor(width / cropFraction) / srcWidth);
            int rh = Math.max(height, (int) Math.round(srcHeight * scale)), rw = Math.max(width, (int) Math.round(srcWidth * scale));
            byte[] resized = new byte[rh * rw];
            int top = (rh - height) / 2, left = (rw - width) / 2;
            for (int c = 0; c < channels; c++) {
                resizeBilinear(planes, c * planeSize, srcHeight, srcWidth, resized, 0, rh, rw);
                for (int y = 0; y < height; y++) {
                    System.arraycopy(resized, (top + y) * rw + left, dst, offset + c * height * width + y * width, width);
                }
            }
            return;
        }
        for (int c = 0; c < channels; c++) {
            resizeBilinear(planes, c * planeSize, srcHeight, srcWidth, dst, offset + c * height * width, height,
                    width);
        }
    }

    /** Pixel-centre aligned bilinear resampling; an unchanged size copies values exactly. */
    static void resizeBilinear(float[] src, int srcOffset, int srcHeight, int srcWidth,
                               byte[] dst, int dstOffset, int height, int width) {
        float scaleY = (float) srcHeight / height;
        float scaleX = (float) srcWidth / width;
        for (int y = 0; y < height; y++) {
            float sy = Math.clamp((y + 0.5f) * scaleY - 0.5f, 0f, srcHeight - 1);
            int y0 = (int) sy;
            int y1 = Math.min(y0 + 1, srcHeight - 1);
            float fy = sy - y0;
            for (int x = 0; x < width; x++) {
                float sx = Math.clamp((x + 0.5f) * scaleX - 0.5f, 0f, srcWidth - 1);
                int x0 = (int) sx;
                int x1 = Math.min(x0 + 1, srcWidth - 1);
                float fx = sx - x0;
                float top = src[srcOffset + y0 * srcWidth + x0] * (1 - fx) + src[srcOffset + y0 * srcWidth + x1] * fx;
                float bottom = src[srcOffset + y1 * srcWidth + x0] * (1 - fx) + src[srcOffset + y1 * srcWidth + x1] * fx;
                float value = top * (1 - fy) + bottom * fy;
                dst[dstOffset + y * width + x] = (byte) Math.clamp(Math.round(value), 0, 255);
            }
        }
    }
}
