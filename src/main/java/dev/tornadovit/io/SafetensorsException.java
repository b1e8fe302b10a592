package dev.tornadovit.io;

/** A safetensors file is malformed or does not match what the model expects; the message names file and tensor. */
public class SafetensorsException extends RuntimeException {
    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
