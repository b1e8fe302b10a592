package dev.tornadovit.model;

/** Fixed position embeddings. */
public final class PositionEmbeddings {
    private PositionEmbeddings() {
    }

    /**
     * big_vision's posemb_sincos_2d for a gh×gw grid and width D (a multiple of 4): per token
     * [sin(x·ω), cos(x·ω), sin(y·ω), cos(y·ω)] with ω_i = 10000^(-i/(D/4-1)). Row-major [gh·gw, D].
     */
    public static double[] sinCos2d(int gridHeight, int gridWidth, int dim) {
        int quarter = dim / 4;
        double[] omega = new double[quarter];
        for (int i = 0; i < quarter; i++) {
            omega[i] = quarter == 1 ? 1 : 1 / Math.pow(10000, (double) i / (quarter - 1));
        }
        double[] table = new double[gridHeight * gridWidth * dim];
        for (int y = 0; y < gridHeight; y++)
            for (int x = 0; x < gridWidth; x++) {
                int base = (y * gridWidth + x) * dim;
                for (int i = 0; i < quarter; i++) {
                    table[base + i] = Math.sin(x * omega[i]);
                    table[base + quarter + i] = Math.cos(x * omega[i]);
                    table[base + 2 * quarter + i] = Math.sin(y * omega[i]);
                    table[base + 3 * quarter + i] = Math.cos(y * omega[i]);
                }
            }
        return table;
    }
}
