package dev.tornadovit.io;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Locale;

/**
 * The reason of an I/O failure in words, for messages that already name the file: "cannot read runs/a/x: no such
 * file", not the exception's message, which for file-system exceptions is just the path again.
 */
public final class IoErrors {
    private IoErrors() {
    }

    public static String reason(IOException e) {
        String reason = switch (e) {
            case NoSuchFileException x -> "no such file or folder";
            case AccessDeniedException x -> "permission denied";
            case NotDirectoryException x -> "not a folder";
            case FileAlreadyExistsException x -> "already exists";
            case DirectoryNotEmptyException x -> "folder not empty";
            case FileSystemException x when x.getReason() != null -> x.getReason().toLowerCase(Locale.ROOT);
            case FileSystemException x -> "file system error";
            case CharacterCodingException x -> "not UTF-8 text";
            default -> e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        };
        // A rename or copy names a second file; the first is named by the caller.
        if (e instanceof FileSystemException x && x.getOtherFile() != null) reason += " (" + x.getOtherFile() + ")";
        return reason;
    }
}
