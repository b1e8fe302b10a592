package dev.tornadovit.cli;

import dev.tornadovit.data.CifarDataset;
import dev.tornadovit.data.DataFormatException;
import dev.tornadovit.data.DefaultData;
import dev.tornadovit.data.FashionMnist;
import dev.tornadovit.data.IdxDataset;
import dev.tornadovit.data.ImageDataset;
import dev.tornadovit.data.ImageFolderDataset;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.IntStream;

/** Where the images come from. Default: the bundled Fashion-MNIST. */
public final class DataOptions {
    @Option(names = "--data", paramLabel = "PATH",
            description = "fashion-mnist (bundled, default), or a folder: MNIST-style IDX files, CIFAR-10/100 binary "
                    + "batches, or image folders (train/ and test/ with one subfolder per class, or just class subfolders).")
    String data = "fashion-mnist";

    @Option(names = "--image-size", paramLabel = "HxW", description = "Resize image-folder images to this size, e.g. 32 or 64x48 (default 32).")
    String imageSize = "32";

    @Option(names = "--channels", description = "Channels for image folders: 1 (grey) or 3 (RGB, default).")
    int channels = 3;

    @Option(names = "--train-limit", paramLabel = "N", description = "Use only the first N training images (quick trials).")
    int trainLimit;

    @Option(names = "--eval-limit", paramLabel = "N", description = "Use only the first N evaluation images.")
    int evalLimit;

    @Option(names = "--validation-fraction", paramLabel = "F",
            description = "Hold out this share of the training set for evaluation instead of using the test split.")
    double validationFraction;

    /** How image folders are cut to size (see {@link ImageFolderDataset#load(Path, int, int, int, double)}); 0 stretches. */
    double cropFraction;

    record Splits(ImageDataset train, ImageDataset eval, String description) {
    }

    Splits load(long seed) {
        ImageDataset train = load(true), test = load(false);
        ImageDataset eval = test;
        String what = describe() + " test split";
        if (validationFraction > 0) {
            var split = train.split(validationFraction, seed);
            train = split.train();
            eval = split.validation();
            what = describe() + " validation split (" + validationFraction + " of train)";
        }
        if (trainLimit > 0 && trainLimit < train.size()) train = train.subset(range(trainLimit));
        if (evalLimit > 0 && evalLimit < eval.size()) eval = eval.subset(range(evalLimit));
        return new Splits(train, eval, what);
    }

    String describe() {
        return "fashion-mnist".equals(data) ? "Fashion-MNIST (bundled)" : data;
    }

    private static int[] range(int n) {
        return IntStream.range(0, n).toArray();
    }

    /** The train or test part. */
    ImageDataset load(boolean train) {
        if ("fashion-mnist".equals(data)) return DefaultData.fashionMnist(train);
        Path dir = Path.of(data);
        if (!Files.isDirectory(dir)) {
            throw new DataFormatException(dir + ": not a folder; --data expects fashion-mnist or a folder of IDX files, "
                    + "CIFAR binary batches or class subfolders");
        }
        String prefix = train ? "train" : "t10k";
        if (Files.exists(dir.resolve(prefix + "-images-idx3-ubyte.gz")) || Files.exists(dir.resolve(prefix + "-images-idx3-ubyte"))) {
            // Fashion-MNIST and MNIST share the format; only the class names tell them apart.
            boolean fashion = dir.toString().toLowerCase(java.util.Locale.ROOT).contains("fashion");
            return fashion ? FashionMnist.load(dir, train) : idx(dir, prefix);
        }
        if (Files.exists(dir.resolve("data_batch_1.bin")) || Files.exists(dir.resolve("train.bin"))
                || Files.isDirectory(dir.resolve("cifar-10-batches-bin")) || Files.isDirectory(dir.resolve("cifar-100-binary"))) {
            return CifarDataset.loadDirectory(dir, train);
        }
        int[] hw = parseSize(imageSize);
        Path split = dir.resolve(train ? "train" : "test");
        if (Files.isDirectory(split)) return ImageFolderDataset.load(split, hw[0], hw[1], channels, cropFraction);
        if (!train) {
            throw new DataFormatException(dir + ": image folders need train/ and test/ subfolders for a test split; "
                    + "otherwise pass --validation-fraction to hold out part of the training images");
        }
        return ImageFolderDataset.load(dir, hw[0], hw[1], channels, cropFraction);
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
            if (h > 0 && w > 0 && parts.length <= 2) return new int[]{h, w};
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException("--image-size: expected N or HxW with positive integers, got '" + s + "'");
    }
}
