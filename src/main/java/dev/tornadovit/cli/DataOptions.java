package dev.tornadovit.cli;

import dev.tornadovit.data.CifarDataset;
import dev.tornadovit.data.DataFormatException;
import dev.tornadovit.data.DefaultData;
import dev.tornadovit.data.FashionMnist;
import dev.tornadovit.data.IdxDataset;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.ImageFolderDataset;
import dev.tornadovit.model.ViTConfig;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;

/** Where the images come from. Default: the bundled Fashion-MNIST. */
public final class DataOptions {
    @Option(names = "--data", paramLabel = "PATH",
            description = "fashion-mnist (bundled, default), or a folder: MNIST-style IDX files, CIFAR-10/100 binary "
                    + "batches, or image folders (train/ and test/ with one subfolder per class, or just class subfolders).")
    String data = "fashion-mnist";

    @Option(names = "--image-size", paramLabel = "HxW", description = "Resize image-folder images to this size, e.g. 32 "
            + "or 64x48 (default 32; eval: the checkpoint's).")
    String imageSize;

    @Option(names = "--channels", description = "Channels for image folders: 1 (grey) or 3 (RGB, default; eval: the "
            + "checkpoint's).")
    Integer channels;

    /** The largest image side accepted: larger sizes are typing errors, and their pixel counts overflow. */
    static final int MAX_IMAGE_SIDE = 16384;

    /** What image folders are resized and converted to without the options: 32×32 RGB, or (eval) the checkpoint's. */
    private String defaultImageSize = "32";
    private int defaultChannels = 3;

    String imageSize() {
        return imageSize == null ? defaultImageSize : imageSize;
    }

    int channels() {
        return channels == null ? defaultChannels : channels;
    }

    /** The other formats have a fixed image shape: an option that would change it says the data is not what was meant. */
    private void requireNoImageFolderOptions(String format) {
        if (imageSize != null || channels != null) {
            throw new IllegalArgumentException((imageSize != null ? "--image-size" : "--channels") + " applies to image "
                    + "folders only; " + describe() + " holds " + format + " of a fixed size");
        }
    }

    @Option(names = "--train-limit", paramLabel = "N", description = "Use only the first N training images (quick trials).")
    int trainLimit;

    @Option(names = "--eval-limit", paramLabel = "N", description = "Use only the first N evaluation images.")
    int evalLimit;

    @Option(names = "--validation-fraction", paramLabel = "F",
            description = "Hold out this share of the training set for evaluation instead of using the test split.")
    double validationFraction;

    /** How image folders are cut to size (see {@link ImageFolderDataset#load(Path, int, int, int, double, List, String)}); 0 stretches. */
    double cropFraction;

    record Splits(ImageDataset train, ImageDataset eval, String description) {
    }

    Splits load(long seed) {
        OptionChecks.check(this);
        ImageDataset train = load(true, null, null);
        ImageDataset eval;
        String what;
        if (validationFraction > 0) {
            // The held-out images come from the training set; a test split is not needed (image folders may lack one).
            var split = train.split(validationFraction, seed);
            train = split.train();
            eval = split.validation();
            what = describe() + " validation split (" + validationFraction + " of train)";
        } else {
            // The test split is numbered with the training set's classes, never on its own.
            eval = load(false, train.classNames(), isImageFolders() ? Path.of(data).resolve("train").toString()
                    : describe() + " (training split)");
            what = describe() + " test split";
        }
        return new Splits(limit(train, trainLimit), limit(eval, evalLimit), what);
    }

    /**
     * The images a checkpoint is evaluated on: the test split, or with --validation-fraction the same held-out part
     * of the training set that train held out with that fraction and {@code seed}. Classes come from the checkpoint
     * ({@code classes}, empty when it names none).
     */
    ImageDataset evaluationSet(long seed, ViTConfig config, List<String> classes, String checkpoint) {
        // Image folders are resized to what the checkpoint was trained on unless the options say otherwise.
        defaultImageSize = config.imageHeight() + "x" + config.imageWidth();
        defaultChannels = config.channels();
        OptionChecks.checkForEvaluation(this);
        List<String> expected = classes.isEmpty() ? null : classes;
        String from = "checkpoint " + checkpoint;
        ImageDataset set = validationFraction > 0
                ? load(true, expected, from).split(validationFraction, seed).validation()
                : load(false, expected, from);
        if (expected != null && !set.classNames().equals(expected)) {
            throw new DataFormatException(describe() + ": its classes " + set.classNames() + " differ from the "
                    + expected.size() + " classes of " + from + " " + expected);
        }
        if (set.channels() != config.channels() || set.height() != config.imageHeight() || set.width() != config.imageWidth()) {
            throw new DataFormatException(String.format("%s: images are %d×%d×%d, but %s expects %d×%d×%d "
                            + "(channels×height×width)", describe(), set.channels(), set.height(), set.width(), from,
                    config.channels(), config.imageHeight(), config.imageWidth()));
        }
        if (set.numClasses() > config.numClasses()) {
            throw new DataFormatException(describe() + ": " + set.numClasses() + " classes, but " + from + " has "
                    + config.numClasses());
        }
        return limit(set, evalLimit);
    }

    private static ImageDataset limit(ImageDataset set, int limit) {
        return limit > 0 && limit < set.size() ? set.subset(IntStream.range(0, limit).toArray()) : set;
    }

    String describe() {
        return "fashion-mnist".equals(data) ? "Fashion-MNIST (bundled)" : data;
    }

    private boolean isImageFolders() {
        Path dir = Path.of(data);
        return !"fashion-mnist".equals(data) && Files.isDirectory(dir.resolve("train"))
                && !Files.exists(dir.resolve("train.bin"));
    }

    /** The train or test part. */
    ImageDataset load(boolean train) {
        return load(train, null, null);
    }

    /**
     * The train or test part; image folders are numbered with {@code classes} when given (from the training folder
     * or a checkpoint, named by {@code classesFrom}) and must hold exactly those.
     */
    ImageDataset load(boolean train, List<String> classes, String classesFrom) {
        if ("fashion-mnist".equals(data)) {
            requireNoImageFolderOptions("IDX images");
            return DefaultData.fashionMnist(train);
        }
        Path dir = Path.of(data);
        if (!Files.isDirectory(dir)) {
            throw new DataFormatException(dir + ": not a folder; --data expects fashion-mnist or a folder of IDX files, "
                    + "CIFAR binary batches or class subfolders");
        }
        String prefix = train ? "train" : "t10k";
        if (Files.exists(dir.resolve(prefix + "-images-idx3-ubyte.gz")) || Files.exists(dir.resolve(prefix + "-images-idx3-ubyte"))) {
            // Fashion-MNIST and MNIST share the format; only the class names tell them apart.
            requireNoImageFolderOptions("IDX images");
            boolean fashion = dir.toString().toLowerCase(java.util.Locale.ROOT).contains("fashion");
            return fashion ? FashionMnist.load(dir, train) : idx(dir, prefix);
        }
        if (Files.exists(dir.resolve("data_batch_1.bin")) || Files.exists(dir.resolve("train.bin"))
                || Files.isDirectory(dir.resolve("cifar-10-batches-bin")) || Files.isDirectory(dir.resolve("cifar-100-binary"))) {
            requireNoImageFolderOptions("CIFAR images");
            return CifarDataset.loadDirectory(dir, train);
        }
        int[] hw = parseSize(imageSize());
        Path split = dir.resolve(train ? "train" : "test");
        if (Files.isDirectory(split)) {
            return ImageFolderDataset.load(split, hw[0], hw[1], channels(), cropFraction, classes, classesFrom);
        }
        if (!train) {
            throw new DataFormatException(dir + ": image folders need train/ and test/ subfolders for a test split; "
                    + "otherwise pass --validation-fraction to hold out part of the training images");
        }
        return ImageFolderDataset.load(dir, hw[0], hw[1], channels(), cropFraction, classes, classesFrom);
    }

    private static ImageDataset idx(Path dir, String prefix) {
        Path images = dir.resolve(prefix + "-images-idx3-ubyte.gz"), labels = dir.resolve(prefix + "-labels-idx1-ubyte.gz");
        if (!Files.exists(images)) images = dir.resolve(prefix + "-images-idx3-ubyte");
        if (!Files.exists(labels)) labels = dir.resolve(prefix + "-labels-idx1-ubyte");
        return IdxDataset.load(images, labels);
    }

    static int[] parseSize(String s) {
        try {
            String[] parts = s.toLowerCase().split("x");
            int h = Integer.parseInt(parts[0].trim());
            int w = parts.length > 1 ? Integer.parseInt(parts[1].trim()) : h;
            if (h > 0 && w > 0 && h <= MAX_IMAGE_SIDE && w <= MAX_IMAGE_SIDE && parts.length <= 2) return new int[]{h, w};
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("--image-size: expected N or HxW with whole numbers from 1 to "
                + MAX_IMAGE_SIDE + ", got '" + s + "'");
    }
}
