package dev.dualign.core.config;

/** Bad configuration, found at start-up; the message names the key. */
public class ConfigException extends RuntimeException {
    private final String key;

    public ConfigException(String key, String message) {
        super("configuration key '" + key + "': " + message);
        this.key = key;
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
        this.key = null;
    }

    public String key() {
        return key;
    }
}
