package dev.tornadovit.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tornadovit.io.Safetensors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** One PyTorch reference case from src/test/resources/fixtures (made by scripts/make_fixtures.py). */
record TorchFixture(String name, ViTConfig config, double lr, double beta1, double beta2, double eps, double weightDecay,
                    double clipNorm, int steps, Safetensors.Contents tensors, Path file) {

    /** The fixtures folder; other modules' tests, which run elsewhere, point {@code tornadovit.fixtures} at it. */
    static final Path DIR = Path.of(System.getProperty("tornadovit.fixtures", "src/test/resources/fixtures"));

    static List<String> names() {
        return List.of("softmax", "relu_l", "relu2_a05", "sigmoid_qknorm_gate", "reattn_bn_softmax", "reattn_bn_relu_l",
                "reattn_ln_softmax", "reattn_ln_relu_l", "pointwise_mix", "act_softplus", "act_identity", "act_relu6");
    }

    static TorchFixture load(String name) {
        try {
            ObjectNode json = (ObjectNode) new ObjectMapper().readTree(Files.readString(DIR.resolve(name + ".json")));
            ObjectNode opt = (ObjectNode) json.remove("optimizer");
            ViTConfig config = ViTConfig.fromJson(json.toString(), name + ".json");
            Path file = DIR.resolve(name + ".safetensors");
            return new TorchFixture(name, config, opt.get("lr").asDouble(), opt.get("beta1").asDouble(),
                    opt.get("beta2").asDouble(), opt.get("eps").asDouble(), opt.get("weight_decay").asDouble(),
                    opt.get("clip_norm").asDouble(), opt.get("steps").asInt(), Safetensors.read(file), file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    double[] get(String tensor) {
        return tensors.require(tensor, file).values();
    }

    boolean has(String tensor) {
        return tensors.tensors().containsKey(tensor);
    }

    int batch() {
        return get("input.labels").length;
    }
}
