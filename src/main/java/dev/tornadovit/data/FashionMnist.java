package dev.tornadovit.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Fashion-MNIST (Zalando, MIT licence): 28×28 grey images of 10 kinds of clothing, in MNIST's IDX format. */
public final class FashionMnist {

    public static final List<String> CLASS_NAMES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    public static final int IMAGE_SIZE = 28;
    public static final String TRAIN_IMAGES = "train-images-idx3-ubyte.gz";
    public static final String TRAIN_LABELS = "train-labels-idx1-ubyte.gz";
    public static final String TEST_IMAGES = "t10k-images-idx3-ubyte.gz";
    public static final String TEST_LABELS = "t10k-labels-idx1-ubyte.gz";

    private FashionMnist() {
    }

    /**
     * Loads the training (60,000) or test (10,000) set from {@code dir}, which holds the files under their
     * standard names; an already gunzipped copy without the ".gz" suffix is accepted too.
     */
    public static ImageDataset load(Path dir, boolean train) {
        Path images = find(dir, train ? TRAIN_IMAGES : TEST_IMAGES);
        Path labels = find(dir, train ? TRAIN_LABELS : TEST_LABELS);
        ImageDataset dataset = IdxDataset.load(images, labels, CLASS_NAMES);
        if (dataset.height() != IMAGE_SIZE || dataset.width() != IMAGE_SIZE) {
            throw new DataFormatException(String.format(
                    "%s: Fashion-MNIST images must be %d×%d, but the header says %d×%d",
                    images, IMAGE_SIZE, IMAGE_SIZE, dataset.height(), dataset.width()));
        }
        return dataset;
    }

    private static Path find(Path dir, String gzName) {
        Path gz = dir.resolve(gzName);
        if (Files.isRegularFile(gz)) {
            return gz;
        }
        Path plain = dir.resolve(gzName.substring(0, gzName.length() - ".gz".length()));
        if (Files.isRegularFile(plain)) {
            return plain;
        }
        throw new DataFormatException(dir + ": Fashion-MNIST file " + gzName + " not found (nor " + plain.getFileName()
                + ")");
    }
}
