package dev.tornadovit.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tornadovit.io.Safetensors;
import dev.tornadovit.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.tornadovit.cli.BadInputTest.refused;
import static dev.tornadovit.cli.RunFolderCliTest.error;
import static dev.tornadovit.cli.RunFolderCliTest.run;
import static dev.tornadovit.cli.RunFolderCliTest.tiny;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --precision at the command line: stored with the run, changeable on resume, refused in one line where it cannot run. */
class PrecisionCliTest {

    @Test
    void aPrecisionThatIsNotOneIsOneLineListingThem(@TempDir Path dir) {
        String expected = "Invalid value for option '--precision': expected fp32|tf32|bf16, got 'fp16'";
        refused(CliTest.run("train", "--precision", "fp16", "--run-dir", dir.resolve("run").toString()), expected);
        refused(CliTest.run("eval", "x.safetensors", "--precision", "fp16"), expected);
        refused(CliTest.run("predict", "x.safetensors", "x.png", "--precision", "fp16"), expected);
        refused(CliTest.run("bench", "--precision", "fp16"), expected);
        assertFalse(Files.exists(dir.resolve("run")));
        for (String command : new String[]{"train", "eval", "predict", "bench", "demo"}) {
            CliTest.Result help = CliTest.run(command, "--help");
            assertTrue(help.out().contains("--precision=fp32|tf32|bf16"), command + ": " + help.out());
        }
    }

    @Test
    void theFloat64ReferenceRefusesReducedPrecisionsBeforeWritingAnything(@TempDir Path dir) {
        Path run = dir.resolve("run");
        CliTest.Result r = CliTest.run("train", "--device", "reference", "--precision", "bf16", "--train-limit", "64",
                "--eval-limit", "64", "--run-dir", run.toString());
        assertEquals(2, r.code(), r.err());
        assertEquals("error: device reference (float64, for gradient checks) runs precision fp32 only, not bf16: use "
                + "--device cpu, which emulates bf16", error(r));
        assertFalse(Files.exists(run.resolve("options.json")), "a refused run writes nothing");
    }

    @Test
    void aBf16RunKeepsItsPrecisionOnResumeMayChangeItAndItsCheckpointsRunInAnyPrecision(@TempDir Path dir)
            throws Exception {
        Path run = dir.resolve("run");
        CliTest.Result first = run(tiny(run, "--precision", "bf16"));
        assertEquals(0, first.code(), first.err());
        assertTrue(first.err().contains("cpu: bf16 is emulated") && first.err().contains("bf16 emulated)"), first.err());
        assertTrue(Files.readString(run.resolve("options.json")).contains("\"--precision\" : \"bf16\""));
        // The checkpoint is fp32, as any other.
        Safetensors.read(run.resolve(Trainer.LAST)).tensors().values()
                .forEach(e -> assertEquals("F32", e.dtype(), "checkpoint tensors"));

        // --resume alone continues in bf16.
        CliTest.Result alone = CliTest.run("train", "--run-dir", run.toString(), "--resume");
        assertEquals(0, alone.code(), alone.err());
        assertTrue(alone.err().contains("bf16 emulated)"), alone.err());

        // Another precision is allowed, said, and kept for the next --resume.
        CliTest.Result changed = CliTest.run("train", "--run-dir", run.toString(), "--resume", "--precision", "fp32");
        assertEquals(0, changed.code(), changed.err());
        assertTrue(changed.err().contains("--precision fp32: the run in " + run + " ran with --precision bf16 so far "
                + "and continues with --precision fp32"), changed.err());
        assertFalse(changed.err().contains("emulated"), changed.err());
        String options = Files.readString(run.resolve("options.json"));
        assertTrue(options.contains("\"--precision\" : \"fp32\"") && options.contains("\"--lr\" : 0.003"), options);
        CliTest.Result again = CliTest.run("train", "--run-dir", run.toString(), "--resume");
        assertEquals(0, again.code(), again.err());
        assertFalse(again.err().contains("emulated"), again.err());

        // A damaged precision in options.json is named with what it should hold.
        Files.writeString(run.resolve("options.json"), options.replace("\"--precision\" : \"fp32\"",
                "\"--precision\" : \"fp16\""));
        CliTest.Result damaged = CliTest.run("train", "--run-dir", run.toString(), "--resume");
        assertEquals("error: " + run.resolve("options.json") + ": option --precision is \"fp16\", expected a "
                + "Precision as its command-line option takes", error(damaged));

        // A run folder from before --precision existed ran in fp32; one given on resume is kept from then on.
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = (ObjectNode) json.readTree(options);
        ((ObjectNode) root.get("options")).remove("--precision");
        Files.writeString(run.resolve("options.json"), json.writeValueAsString(root));
        CliTest.Result older = CliTest.run("train", "--run-dir", run.toString(), "--resume", "--precision", "tf32");
        assertEquals(0, older.code(), older.err());
        assertTrue(older.err().contains("has no --precision in its options.json (it ran with the default, fp32)"),
                older.err());
        assertEquals("tf32", json.readTree(run.resolve("options.json").toFile()).get("options").get("--precision")
                .asText());

        // The bf16-trained checkpoint evaluates in fp32 (the default) and in bf16, to nearly the same accuracy.
        String best = run.resolve(Trainer.BEST).toString();
        double fp32 = accuracy(CliTest.run("eval", best, "--eval-limit", "128"));
        double bf16 = accuracy(CliTest.run("eval", best, "--eval-limit", "128", "--precision", "bf16"));
        assertEquals(fp32, bf16, 3.0, "top-1 in % on 128 images: a prediction or so may flip");

        Path png = dir.resolve("x.png");
        javax.imageio.ImageIO.write(new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY), "png", png.toFile());
        CliTest.Result predicted = CliTest.run("predict", best, png.toString(), "--top", "2", "--precision", "tf32");
        assertEquals(0, predicted.code(), predicted.err());
        assertEquals(3, predicted.out().strip().split("\n").length, predicted.out());
        assertTrue(predicted.err().contains("cpu: tf32 is emulated"), predicted.err());
    }

    private static double accuracy(CliTest.Result r) {
        assertEquals(0, r.code(), r.err());
        Matcher m = Pattern.compile("top-1 ([0-9.]+)%").matcher(r.out());
        assertTrue(m.find(), r.out());
        return Double.parseDouble(m.group(1));
    }
}
