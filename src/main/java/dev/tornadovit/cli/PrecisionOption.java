package dev.tornadovit.cli;

import dev.tornadovit.tensor.Precision;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;
import picocli.CommandLine.TypeConversionException;

/** --precision: the format of the matrix products' operands, for train, eval, predict, bench and demo. */
public final class PrecisionOption {
    @Option(names = "--precision", defaultValue = "fp32", paramLabel = "fp32|tf32|bf16", converter = Converter.class,
            description = "Matrix products' operands in fp32 (default), tf32 or bf16, accumulated in fp32; weights, "
                    + "optimiser state, norms, softmax and loss stay fp32, checkpoints are fp32 whatever it is. The "
                    + "CPU emulates tf32 and bf16 (for reference and testing: no faster); see docs/precision.md.")
    Precision precision;

    Precision value() {
        return precision;
    }

    /** The labels fp32, tf32, bf16 in any case; anything else is one line listing them. */
    static final class Converter implements ITypeConverter<Precision> {
        @Override
        public Precision convert(String value) {
            try {
                return Precision.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }
}
