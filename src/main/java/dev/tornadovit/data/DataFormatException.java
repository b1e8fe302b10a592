package dev.tornadovit.data;

/**
 * Input data is missing or malformed. The message is meant for the person running the program: it names the
 * file, the field or byte offset, and what was expected versus what was found, so callers (the CLI) can print
 * it as a single line instead of a stack trace.
 */
public class DataFormatException extends RuntimeException {

    public DataFormatException(String message) {
        super(message);
    }

    public DataFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
