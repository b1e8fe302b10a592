package dev.tornadovit.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.tornadovit.io.IoErrors;
import dev.tornadovit.model.ViTConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Every option a training run was started with, kept in its run folder as {@value #FILE} next to the model's
 * {@code config.json}, so that {@code train --run-dir D --resume} alone continues the run with exactly those
 * options: data, limits, seed, schedule, optimiser, augmentation and model. The file is typed JSON, one entry per
 * option under its long name, e.g. {@code "--lr": 0.002, "--flip": false, "--width": null} (null: not given, the
 * model's own value applies).
 *
 * <p>On resumption an option given again with the same value is accepted; with another value it is refused with
 * one line naming the option, the run's value and the new one, since the resumed run would no longer be the run it
 * claims to continue. A model option the run was started without is accepted when the model it gives is the run's
 * model (config.json). Where and how fast to run ({@link #NOT_PART_OF_THE_RUN}) may change, and so may the
 * options of {@link #MAY_CHANGE_ON_RESUME}: stored, so that {@code --resume} alone keeps them, but given again with
 * another value they replace the run's from then on, logged, and the file is updated.
 */
final class RunOptions {
    private static final Logger log = LoggerFactory.getLogger(RunOptions.class);
    static final String FILE = "options.json", FORMAT = "tornadovit-options-1";
    /** Options that choose where or how fast the run executes, or what to do with the folder: not stored. */
    static final Set<String> NOT_PART_OF_THE_RUN = Set.of("--run-dir", "--resume", "--overwrite", "--device",
            "--threads", "--help", "--version");
    /**
     * Options a resumed run may change. --precision: a checkpoint is the same fp32 file whatever precision wrote it,
     * and the optimiser's state is fp32 too, so a run may continue in another precision (on another device, say).
     */
    static final Set<String> MAY_CHANGE_ON_RESUME = Set.of("--precision");
    /** Enums (--precision) by their lower-case labels, as the command line spells them. */
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.WRITE_ENUMS_USING_TO_STRING)
            .enable(DeserializationFeature.READ_ENUMS_USING_TO_STRING);

    /** The model options given on the command line that the run was started without (checked through the model). */
    private final List<String> unstoredModelOptions;
    /** Options of {@link #MAY_CHANGE_ON_RESUME} given with another value than the run's. */
    private final List<OptionSpec> changed;
    private final Path dir;

    private RunOptions(Path dir, List<String> unstoredModelOptions, List<OptionSpec> changed) {
        this.dir = dir;
        this.unstoredModelOptions = unstoredModelOptions;
        this.changed = changed;
    }

    private static boolean stored(OptionSpec o) {
        return !NOT_PART_OF_THE_RUN.contains(o.longestName()) && !o.usageHelp() && !o.versionHelp();
    }

    /** Writes the options of {@code spec} (as parsed, defaults included) into {@code dir}/{@value #FILE}, atomically. */
    static void save(CommandSpec spec, Path dir) {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", FORMAT);
        root.put("command", spec.name());
        ObjectNode options = root.putObject("options");
        for (OptionSpec o : spec.options()) {
            if (!stored(o)) continue;
            options.set(o.longestName(), json(o.getValue()));
        }
        write(dir, root);
    }

    private static JsonNode json(Object value) {
        return value == null ? NullNode.instance
                : value instanceof Path p ? TextNode.valueOf(p.toString()) : JSON.valueToTree(value);
    }

    private static void write(Path dir, ObjectNode root) {
        Path file = dir.resolve(FILE);
        try {
            Path tmp = Files.createTempFile(dir, "." + FILE, ".tmp");
            Files.writeString(tmp, JSON.writeValueAsString(root));
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Writes the options of {@link #MAY_CHANGE_ON_RESUME} that this resumption changed into the run's file, so that
     * a later {@code --resume} continues with them; the file's other entries stay as they are.
     */
    void saveChanges(CommandSpec spec) {
        if (changed.isEmpty()) return;
        ObjectNode root;
        try {
            root = (ObjectNode) JSON.readTree(read(dir));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(dir.resolve(FILE) + ": not valid JSON (" + e.getOriginalMessage() + ")");
        }
        ObjectNode options = (ObjectNode) root.get("options");
        for (OptionSpec o : changed) options.set(o.longestName(), json(spec.findOption(o.longestName()).getValue()));
        write(dir, root);
    }

    /**
     * Sets every option not given on this command line to the run's value from {@code dir}/{@value #FILE} and refuses
     * one given with another value. Returns null when the folder has no such file (a run folder of an older version:
     * the options then come from the command line alone, and the checkpoint's model is still checked).
     *
     * @param modelOptions the options that only shape the model (a difference there is judged by {@link #checkModel})
     */
    static RunOptions restore(CommandSpec spec, Path dir, Set<OptionSpec> modelOptions) {
        return restore(spec, dir, modelOptions, read(dir));
    }

    /** The text of {@code dir}'s options file, or "" when it has none. */
    static String read(Path dir) {
        Path file = dir.resolve(FILE);
        if (!Files.exists(file)) return "";
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + IoErrors.reason(e), e);
        }
    }

    /** As {@link #restore(CommandSpec, Path, Set)}, from the file's {@code text} ("" for none), read elsewhere. */
    static RunOptions restore(CommandSpec spec, Path dir, Set<OptionSpec> modelOptions, String text) {
        Path file = dir.resolve(FILE);
        if (text.isEmpty()) {
            log.warn("{} has no {}: the run's options are taken from this command line", dir, FILE);
            return null;
        }
        JsonNode options;
        try {
            options = JSON.readTree(text).get("options");
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (options == null || !options.isObject()) {
            throw new IllegalArgumentException(file + ": expected an object 'options' holding the run's options");
        }
        ParseResult parsed = spec.commandLine().getParseResult();
        List<String> unstoredModelOptions = new ArrayList<>();
        List<OptionSpec> changed = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = options.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> entry = it.next();
            OptionSpec o = spec.findOption(entry.getKey());
            // An option this version no longer has: the model check and the checkpoint's own checks still apply.
            if (o == null || !stored(o)) continue;
            Object runs = value(o, entry.getValue(), file);
            if (!parsed.hasMatchedOption(o)) {
                o.setValue(runs);
            } else if (runs == null && modelOptions.contains(o)) {
                unstoredModelOptions.add(o.longestName() + " " + o.getValue());
            } else if (MAY_CHANGE_ON_RESUME.contains(o.longestName()) && !Objects.equals(runs, o.getValue())) {
                log.info("{} {}: the run in {} ran with {} {} so far and continues with {} {} (its checkpoints are "
                        + "the same fp32 files in either)", o.longestName(), o.getValue(), dir, o.longestName(), runs,
                        o.longestName(), o.getValue());
                changed.add(o);
            } else if (!Objects.equals(runs, o.getValue())) {
                throw new IllegalArgumentException(o.longestName() + " " + o.getValue() + " differs from the run in " + dir
                        + ", which was started with " + (runs == null ? "no " + o.longestName() : o.longestName() + " " + runs)
                        + "; --resume continues a run with its own options (leave " + o.longestName()
                        + " out, or start a new run in another --run-dir)");
            }
        }
        // A run from before an option of MAY_CHANGE_ON_RESUME existed ran with its default; one given now is kept.
        for (String name : MAY_CHANGE_ON_RESUME) {
            OptionSpec o = spec.findOption(name);
            if (o != null && !options.has(name) && parsed.hasMatchedOption(o)) {
                log.info("{} {}: the run in {} has no {} in its {} (it ran with the default, {}) and continues with {} "
                        + "{}", name, o.getValue(), dir, name, FILE, o.defaultValue(), name, o.getValue());
                changed.add(o);
            }
        }
        return new RunOptions(dir, unstoredModelOptions, changed);
    }

    private static Object value(OptionSpec o, JsonNode node, Path file) {
        if (node == null || node.isNull()) {
            if (!o.type().isPrimitive()) return null;
            throw new IllegalArgumentException(file + ": option " + o.longestName() + " is null, expected a "
                    + o.type().getSimpleName() + " as its command-line option takes");
        }
        try {
            if (o.type() == Path.class) return Path.of(node.asText());
            return JSON.convertValue(node, o.type());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": option " + o.longestName() + " is " + node + ", expected a "
                    + o.type().getSimpleName() + " as its command-line option takes");
        }
    }

    /** Refuses a model that is not the run's (config.json), naming the fields that differ and the options given. */
    void checkModel(ViTConfig model) {
        Path file = dir.resolve("config.json");
        if (!Files.exists(file)) return; // the checkpoint's config is checked when it is loaded
        ViTConfig run;
        try {
            run = ViTConfig.fromJson(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        if (run.equals(model)) return;
        List<String> differences = new ArrayList<>();
        try {
            diff("", JSON.readTree(run.toJson()), JSON.readTree(model.toJson()), differences);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        String given = unstoredModelOptions.isEmpty() ? "the run's options now give another model"
                : String.join(", ", unstoredModelOptions) + " would change the model";
        throw new IllegalArgumentException(given + " of the run in " + dir + " (" + String.join(", ", differences)
                + "; the run's model is " + file + "); --resume continues a run with its own model");
    }

    private static void diff(String prefix, JsonNode run, JsonNode given, List<String> out) {
        if (run.isObject() && given.isObject()) {
            for (Iterator<String> names = run.fieldNames(); names.hasNext(); ) {
                String name = names.next();
                JsonNode other = given.get(name);
                if (other == null) out.add(prefix + name + " " + run.get(name) + " → none");
                else diff(prefix + name + ".", run.get(name), other, out);
            }
        } else if (!run.equals(given)) {
            out.add(prefix.substring(0, prefix.length() - 1) + " " + run + " → " + given);
        }
    }
}
