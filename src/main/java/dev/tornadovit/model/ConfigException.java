package dev.tornadovit.model;

/** A configuration value is out of range; the message names the field, what was expected and what was found. */
public class ConfigException extends IllegalArgumentException {
    public ConfigException(String field, String expected, String found) {
        super("config field '" + field + "': expected " + expected + ", found " + (found == null ? "nothing" : "'" + found + "'"));
    }

    public ConfigException(String message) {
        super(message);
    }
}
