package dev.tornadovit.data;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Locates the bundled default dataset, Fashion-MNIST, in {@code data/fashion-mnist}. Looked up in order: the
 * system property {@value #PROPERTY}, the environment variable {@value #ENVIRONMENT} (either may name the data
 * folder or the fashion-mnist folder itself), then {@code data/fashion-mnist} under the working directory or any
 * of its parents (so the CLI works from a subfolder of the project), then under the folder the program's own classes
 * or jar were loaded from or any of its parents (so the CLI finds the project's bundled data from any directory).
 */
public final class DefaultData {

    public static final String PROPERTY = "tornadovit.data";
    public static final String ENVIRONMENT = "TORNADOVIT_DATA";
    static final String FASHION_MNIST = "fashion-mnist";

    private DefaultData() {
    }

    public static Path fashionMnistDir() {
        String property = System.getProperty(PROPERTY);
        if (property != null && !property.isBlank()) {
            return fromSetting(Path.of(property), "system property " + PROPERTY);
        }
        String environment = System.getenv(ENVIRONMENT);
        if (environment != null && !environment.isBlank()) {
            return fromSetting(Path.of(environment), "environment variable " + ENVIRONMENT);
        }
        List<Path> starts = new ArrayList<>(List.of(Path.of("").toAbsolutePath()));
        codeLocation().ifPresent(starts::add);
        for (Path start : starts) {
            for (Path dir = start; dir != null; dir = dir.getParent()) {
                Path candidate = dir.resolve("data").resolve(FASHION_MNIST);
                if (holdsFashionMnist(candidate)) {
                    return candidate;
                }
            }
        }
        throw new DataFormatException("Fashion-MNIST not found: looked for " + FashionMnist.TEST_IMAGES + " etc. in "
                + String.join(" and ", starts.stream().map(s -> s.resolve("data").resolve(FASHION_MNIST).toString()).toList())
                + " and the same place under each parent directory; run from the project folder or set -D" + PROPERTY
                + "=<data folder> or " + ENVIRONMENT);
    }

    /** The folder holding this program's jar or classes (target/ of a checkout), with links resolved. */
    static Optional<Path> codeLocation() {
        try {
            var source = DefaultData.class.getProtectionDomain().getCodeSource();
            if (source == null) return Optional.empty();
            Path path = Path.of(source.getLocation().toURI()).toRealPath();
            return Optional.ofNullable(Files.isDirectory(path) ? path : path.getParent());
        } catch (URISyntaxException | IOException | SecurityException | IllegalArgumentException e) {
            return Optional.empty(); // no location to search: the message lists the working directory's
        }
    }

    /** The bundled training (60,000) or test (10,000) set. */
    public static ImageDataset fashionMnist(boolean train) {
        return FashionMnist.load(fashionMnistDir(), train);
    }

    /** An explicit setting that is wrong is an error, not a reason to silently look elsewhere. */
    private static Path fromSetting(Path setting, String source) {
        Path nested = setting.resolve(FASHION_MNIST);
        if (holdsFashionMnist(nested)) {
            return nested;
        }
        if (holdsFashionMnist(setting)) {
            return setting;
        }
        throw new DataFormatException(source + " is " + setting + ", but neither it nor " + nested
                + " holds the Fashion-MNIST files (" + String.join(", ", FashionMnist.TRAIN_IMAGES,
                FashionMnist.TRAIN_LABELS, FashionMnist.TEST_IMAGES, FashionMnist.TEST_LABELS) + ")");
    }

    private static boolean holdsFashionMnist(Path dir) {
        return Files.isDirectory(dir) && List.of(FashionMnist.TRAIN_IMAGES, FashionMnist.TRAIN_LABELS,
                FashionMnist.TEST_IMAGES, FashionMnist.TEST_LABELS).stream()
                .allMatch(name -> Files.isRegularFile(dir.resolve(name))
                        || Files.isRegularFile(dir.resolve(name.substring(0, name.length() - 3))));
    }
}
