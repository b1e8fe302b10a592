package dev.tornadovit.tensor;

/** How the token sequence becomes one feature vector: the cls token, or the mean of all tokens (gap). */
public enum PoolMode {
    CLS, MEAN
}
