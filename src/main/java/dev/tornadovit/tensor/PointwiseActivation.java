package dev.tornadovit.tensor;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The functions h of pointwise attention φ(s) = L^-α · h(s) (Wortsman et al. 2023). Values and derivatives are in
 * double so the float64 reference backend and the float backends share one definition.
 */
public enum PointwiseActivation {
    RELU("relu"), RELU2("relu2"), GELU("gelu"), SOFTPLUS("softplus"), IDENTITY("identity"), RELU6("relu6"),
    SIGMOID("sigmoid");

    private final String configName;

    PointwiseActivation(String configName) {
        this.configName = configName;
    }

    /** The name in config files and on the command line. */
    @JsonValue
    public String configName() {
        return configName;
    }

    /** "relu, relu2, gelu, softplus, identity, relu6, sigmoid", for messages and help texts. */
    public static String names() {
        return Arrays.stream(values()).map(PointwiseActivation::configName).collect(Collectors.joining(", "));
    }

    @JsonCreator
    public static PointwiseActivation fromConfigName(String name) {
        for (PointwiseActivation a : values()) {
            if (a.configName.equalsIgnoreCase(name)) return a;
        }
        throw new IllegalArgumentException("unknown attention activation '" + name + "'; expected one of " + names());
    }

    public double apply(double s) {
        return switch (this) {
            case RELU -> s > 0 ? s : 0;
            case RELU2 -> s > 0 ? s * s : 0;
            case GELU -> 0.5 * s * (1 + Erf.erf(s * MathConstants.INV_SQRT2));
            // log1p(exp(s)) overflows for large s; softplus(s) = s + log1p(exp(-s)) there.
            case SOFTPLUS -> s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s));
            case IDENTITY -> s;
            case RELU6 -> s <= 0 ? 0 : Math.min(s, 6);
            case SIGMOID -> 1 / (1 + Math.exp(-s));
        };
    }

    public double derivative(double s) {
        return switch (this) {
            case RELU -> s > 0 ? 1 : 0;
            case RELU2 -> s > 0 ? 2 * s : 0;
            case GELU -> 0.5 * (1 + Erf.erf(s * MathConstants.INV_SQRT2)) + s * MathConstants.INV_SQRT_2PI * Math.exp(-0.5 * s * s);
            case SOFTPLUS -> 1 / (1 + Math.exp(-s));
            case IDENTITY -> 1;
            case RELU6 -> (s > 0 && s < 6) ? 1 : 0;
            case SIGMOID -> {
                double g = 1 / (1 + Math.exp(-s));
                yield g * (1 - g);
            }
        };
    }
}
