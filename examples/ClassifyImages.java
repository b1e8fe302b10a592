import dev.tornadovit.ImageClassifier;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Loads a checkpoint written by {@code ./tornadovit train} (or TrainCustomAttention) and prints the three most
 * probable classes of each image file.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp target/tornadovit.jar \
 *     examples/ClassifyImages.java CHECKPOINT IMAGE...
 * </pre>
 */
public class ClassifyImages {
    public static void main(String[] args) {
        if (args.length < 2) {
            System.err.println("usage: ClassifyImages CHECKPOINT IMAGE...");
            System.exit(2);
        }
        List<Path> images = Arrays.stream(args).skip(1).map(Path::of).toList();
        try (ImageClassifier classifier = ImageClassifier.load(Path.of(args[0]), "cpu")) {
            List<List<ImageClassifier.Prediction>> predictions = classifier.classify(images, 3);
            for (int i = 0; i < images.size(); i++) {
                System.out.println(images.get(i));
                predictions.get(i).forEach(p -> System.out.println("  " + p));
            }
        }
    }
}
