package dev.dualign.model.registry;

/** A version that must not be used: missing, incomplete, altered, or pointing outside its directory. */
public class RegistryException extends RuntimeException {
    public RegistryException(String message) {
        super(message);
    }

    public RegistryException(String message, Throwable cause) {
        super(message, cause);
    }
}
