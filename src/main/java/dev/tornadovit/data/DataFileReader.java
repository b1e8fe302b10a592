package dev.tornadovit.data;

import dev.tornadovit.io.IoErrors;
import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Sequential reader over one binary data file that tracks the byte offset, so that every problem can be reported
 * as "file, offset, expected, found". Gzip is detected from the content (magic bytes 1f 8b), not the file name,
 * because downloaded datasets are often renamed or decompressed in place.
 */
final class DataFileReader implements AutoCloseable {

    private final Path file;
    private final boolean gzipped;
    private final InputStream in;
    private long offset;

    private DataFileReader(Path file, boolean gzipped, InputStream in) {
        this.file = file;
        this.gzipped = gzipped;
        this.in = in;
    }

    static DataFileReader open(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new DataFormatException(file + ": file not found (or not a regular file)");
        }
        try {
            InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16);
            raw.mark(2);
            boolean gzipped = raw.read() == 0x1f && raw.read() == 0x8b;
            raw.reset();
            InputStream in = gzipped ? new GZIPInputStream(raw, 1 << 16) : raw;
            return new DataFileReader(file, gzipped, in);
        } catch (NoSuchFileException e) {
            throw new DataFormatException(file + ": file not found", e);
        } catch (IOException e) {
            throw new DataFormatException(file + ": cannot read: " + IoErrors.reason(e), e);
        }
    }

    /** Whole (gunzipped) content of a file; {@code offsetNote} is for messages quoting offsets into it. */
    record Content(byte[] bytes, String offsetNote) {
    }

    static Content readAll(Path file) {
        try (DataFileReader reader = open(file)) {
            return new Content(reader.readRemaining(), reader.offsetNote());
        }
    }

    Path file() {
        return file;
    }

    long offset() {
        return offset;
    }

    /**
     * Reads exactly {@code count} bytes, or fails naming what was being read and where the data ended. The buffer
     * grows as data arrives rather than being sized from the header, so a corrupt count cannot exhaust memory.
     */
    byte[] readExactly(int count, String what) {
        byte[] buffer = new byte[Math.min(count, 1 << 20)];
        int filled = 0;
        try {
            while (filled < count) {
                if (filled == buffer.length) {
                    buffer = Arrays.copyOf(buffer, (int) Math.min(count, 2L * buffer.length));
                }
                int n = in.read(buffer, filled, buffer.length - filled);
                if (n < 0) {
                    break;
                }
                filled += n;
            }
        } catch (IOException e) {
            throw ioFailure(e, String.format("expected %d bytes of %s at byte offset %d, but the data breaks off "
                    + "at byte offset %d", count, what, offset, offset + filled));
        }
        if (filled < count) {
            throw new DataFormatException(String.format(
                    "%s: truncated: expected %d bytes of %s at byte offset %d, but the data ends at byte offset %d%s",
                    file, count, what, offset, offset + filled, offsetNote()));
        }
        offset += count;
        return buffer;
    }

    /** Big-endian 32-bit signed integer, the header field format of IDX files. */
    int readBigEndianInt(String field) {
        byte[] b = readExactly(4, field);
        return (b[0] & 0xFF) << 24 | (b[1] & 0xFF) << 16 | (b[2] & 0xFF) << 8 | (b[3] & 0xFF);
    }

    byte[] readRemaining() {
        try {
            byte[] bytes = in.readAllBytes();
            offset += bytes.length;
            return bytes;
        } catch (IOException e) {
            throw ioFailure(e, "reading from byte offset " + offset);
        }
    }

    /** Fails if anything follows the data the header described: trailing bytes mean the header is wrong. */
    void expectEnd(String described) {
        long extra;
        try {
            extra = in.transferTo(OutputStream.nullOutputStream());
        } catch (IOException e) {
            throw ioFailure(e, "after the expected end at byte offset " + offset);
        }
        if (extra > 0) {
            throw new DataFormatException(String.format(
                    "%s: expected the data to end at byte offset %d (%s), but found %d more bytes%s",
                    file, offset, described, extra, offsetNote()));
        }
    }

    String offsetNote() {
        return gzipped ? " (offsets are in the gunzipped data)" : "";
    }

    private DataFormatException ioFailure(IOException e, String context) {
        String problem = gzipped && (e instanceof EOFException || e instanceof ZipException)
                ? "gzip data is truncated or corrupt" : "read error";
        return new DataFormatException(String.format("%s: %s (%s): %s%s", file, problem, e.getMessage(), context,
                offsetNote()), e);
    }

    @Override
    public void close() {
        try {
            in.close();
        } catch (IOException e) {
            // Nothing useful to do: everything needed has been read.
        }
    }
}
