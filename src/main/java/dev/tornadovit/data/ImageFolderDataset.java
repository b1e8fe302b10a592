package dev.tornadovit.data;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.color.ColorSpace;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

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
        return load(root, height, width, channels, 0);
    }

    /**
     * As {@link #load(Path, int, int, int)}; with {@code cropFraction} in (0, 1] each image is instead resized to
     * cover (height, width) / cropFraction keeping its aspect ratio (for a square input: its shorter side), and the
     * centre height×width cut out, as timm's evaluation transform with {@code crop_pct}. 0 stretches.
     */
    public static ImageDataset load(Path root, int height, int width, int channels, double cropFraction) {
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
        List<String> classNames = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (Path classDir : classDirs) {
            List<Path> images = list(classDir).filter(ImageFolderDataset::isImageFile).toList();
            if (images.isEmpty()) {
                throw new DataFormatException(classDir + ": class folder holds no images; expected at least one "
                        + "file ending in .png, .jpg or .jpeg");
            }
            for (Path image : images) {
                files.add(image);
                labels.add(classNames.size());
            }
            classNames.add(classDir.getFileName().toString());
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

    /** Directory entries sorted by name with String order, which unlike the file system's is the same everywhere. */
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
        int imageSize = channels * height * width;
        byte[] pixels = new byte[files.size() * imageSize];
        for (int i = 0; i < files.size(); i++) {
            Path file = files.get(i);
            if (!Files.isRegularFile(file)) throw new DataFormatException(file + ": no such image file");
            writeResized(read(file), channels, height, width, cropFraction, pixels, i * imageSize);
        }
        return new ImageDataset(channels, height, width, List.of("unlabelled"), pixels, new int[files.size()]);
    }

    private static Stream<Path> list(Path dir) {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.filter(p -> !p.getFileName().toString().startsWith("."))
                    .sorted((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()))
                    .toList().stream();
        } catch (IOException | UncheckedIOException e) {
            throw new DataFormatException(dir + ": cannot list directory: " + e.getMessage(), e);
        }
    }

    private static boolean isImageFile(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(file) && IMAGE_EXTENSIONS.stream().anyMatch(name::endsWith);
    }

    private static BufferedImage read(Path file) {
        BufferedImage image;
        try {
            image = ImageIO.read(file.toFile());
        } catch (IOException | RuntimeException e) {
            throw new DataFormatException(file + ": unreadable image: " + e.getMessage(), e);
        }
        if (image == null) {
            throw new DataFormatException(file + ": unreadable image: not a PNG or JPEG file ImageIO can decode");
        }
        return image;
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
