package dev.tornadovit.tornado;

/**
 * The model does not fit the device's memory. An IllegalArgumentException because the cure is in the user's settings
 * (the message names them), so the command line reports it in one line instead of a stack trace.
 */
public final class DeviceMemoryException extends IllegalArgumentException {
    DeviceMemoryException(String message) {
        super(message);
    }

    DeviceMemoryException(String message, Throwable cause) {
        super(message, cause);
    }
}
