package dev.tornadovit.distributed;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.util.Locale;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The functions of NVIDIA's collective library (NCCL, {@code libnccl.so.2}) that GPU ranks need, bound through Java's
 * foreign-function API: the version, the unique id a communicator is made from, making and ending a communicator,
 * and the all-reduce and broadcast on device memory. Loaded only when GPU ranks ask for it ({@link #load()}), so
 * CPU ranks and single processes never need NCCL.
 *
 * <p>Device buffers and CUDA streams are passed as raw addresses ({@code long}): NCCL reads and writes the GPU's
 * memory itself, and TornadoViT's device backend hands over its buffers' device pointers and its stream. Every call
 * returns NCCL's result code; a non-zero one is reported with NCCL's own words for it.
 */
public final class NcclLibrary {
    /** NCCL 2's soname; {@code TORNADOVIT_LIBNCCL} names another file (say, the one in NVIDIA's nvidia-nccl wheel). */
    public static final String DEFAULT_LIBRARY = "libnccl.so.2";
    /** {@code NCCL_UNIQUE_ID_BYTES}: the opaque id of a communicator, made on one rank and sent to the others. */
    public static final int UNIQUE_ID_BYTES = 128;
    private static final MemoryLayout UNIQUE_ID = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, JAVA_BYTE));

    /** {@code ncclDataType_t}: the element types TornadoViT sends. */
    public enum DataType {
        INT32(2, 4), INT64(4, 8), FLOAT16(6, 2), FLOAT32(7, 4), FLOAT64(8, 8), BFLOAT16(9, 2);

        final int code;
        final int bytes;

        DataType(int code, int bytes) {
            this.code = code;
            this.bytes = bytes;
        }
    }

    /** {@code ncclRedOp_t}: the built-in reductions. */
    public enum ReduceOp {
        SUM(0), PROD(1), MAX(2), MIN(3), AVG(4);

        final int code;

        ReduceOp(int code) {
            this.code = code;
        }
    }

    private static volatile NcclLibrary loaded;

    private final String name;
    private final MethodHandle getVersion, getUniqueId, commInitRank, allReduce, broadcast, commDestroy, commAbort,
            getErrorString, groupStart, groupEnd;

    private NcclLibrary(String name, SymbolLookup lib) {
        this.name = name;
        Linker linker = Linker.nativeLinker();
        getVersion = linker.downcallHandle(symbol(lib, "ncclGetVersion"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        getUniqueId = linker.downcallHandle(symbol(lib, "ncclGetUniqueId"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        // ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId, int rank): the id goes by value.
        commInitRank = linker.downcallHandle(symbol(lib, "ncclCommInitRank"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT));
        // ncclAllReduce(sendbuff, recvbuff, size_t count, datatype, op, comm, cudaStream_t stream)
        allReduce = linker.downcallHandle(symbol(lib, "ncclAllReduce"),
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG));
        // ncclBroadcast(sendbuff, recvbuff, size_t count, datatype, int root, comm, cudaStream_t stream)
        broadcast = linker.downcallHandle(symbol(lib, "ncclBroadcast"),
                FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG));
        commDestroy = linker.downcallHandle(symbol(lib, "ncclCommDestroy"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        commAbort = linker.downcallHandle(symbol(lib, "ncclCommAbort"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        getErrorString = linker.downcallHandle(symbol(lib, "ncclGetErrorString"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
        groupStart = linker.downcallHandle(symbol(lib, "ncclGroupStart"), FunctionDescriptor.of(JAVA_INT));
        groupEnd = linker.downcallHandle(symbol(lib, "ncclGroupEnd"), FunctionDescriptor.of(JAVA_INT));
    }

    /**
     * NCCL, loaded at the first call: the file {@code TORNADOVIT_LIBNCCL} names, else {@value #DEFAULT_LIBRARY} from
     * the system's library path. A missing library is one line that names it and says how to get it.
     */
    public static NcclLibrary load() {
        NcclLibrary lib = loaded;
        if (lib == null) {
            synchronized (NcclLibrary.class) {
                if (loaded == null) {
                    String env = System.getenv("TORNADOVIT_LIBNCCL");
                    loaded = load(env == null || env.isBlank() ? DEFAULT_LIBRARY : env);
                }
                lib = loaded;
            }
        }
        return lib;
    }

    /** NCCL from {@code file} (a soname or a path), loaded now. */
    public static NcclLibrary load(String file) {
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup(file, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot load NCCL's " + file + " (GPU ranks sum their gradients with "
                    + "NCCL): install NCCL 2 (NVIDIA's libnccl2 package, or pip install nvidia-nccl-cu13) or name "
                    + "the library file with TORNADOVIT_LIBNCCL");
        }
        if (lib.find("ncclCommInitRank").isEmpty()) {
            throw new IllegalArgumentException(file + " is not NCCL's library (it has no ncclCommInitRank)");
        }
        return new NcclLibrary(file, lib);
    }

    private static MemorySegment symbol(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalArgumentException("NCCL's library lacks " + name));
    }

    /** The file this was loaded from, as named. */
    public String file() {
        return name;
    }

    /** {@code ncclGetVersion}: major·10000 + minor·100 + patch (23007 is 2.30.7). */
    public int version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            check("ncclGetVersion", (int) getVersion.invokeExact(out));
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@link #version()} as "2.30.7". */
    public String versionString() {
        int v = version();
        // Codes before 2.9 were major·1000 + minor·100 + patch.
        return v >= 20900 ? String.format(Locale.ROOT, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100)
                : String.format(Locale.ROOT, "%d.%d.%d", v / 1000, v / 100 % 10, v % 100);
    }

    /** {@code ncclGetUniqueId}: a new communicator's id (128 bytes), made on one rank and handed to the others. */
    public byte[] uniqueId() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment id = a.allocate(UNIQUE_ID);
            check("ncclGetUniqueId", (int) getUniqueId.invokeExact(id));
            return id.toArray(JAVA_BYTE);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code ncclGetErrorString}: NCCL's words for a result code. */
    public String errorString(int code) {
        try {
            MemorySegment s = (MemorySegment) getErrorString.invokeExact(code);
            return s.address() == 0 ? "NCCL error " + code : s.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code ncclCommInitRank}: this process joins, as {@code rank} of {@code ranks}, the communicator of {@code id};
     * blocks until every rank has. The CUDA device this rank uses must be current on the calling thread.
     */
    MemorySegment commInitRank(int ranks, byte[] id, int rank) {
        if (id.length != UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException("an NCCL unique id has " + UNIQUE_ID_BYTES + " bytes, not " + id.length);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment comm = a.allocate(ADDRESS);
            MemorySegment idValue = a.allocate(UNIQUE_ID);
            idValue.copyFrom(MemorySegment.ofArray(id));
            check("ncclCommInitRank", (int) commInitRank.invokeExact(comm, ranks, idValue, rank));
            return comm.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void allReduce(long send, long recv, long count, DataType type, ReduceOp op, MemorySegment comm, long stream) {
        try {
            check("ncclAllReduce", (int) allReduce.invokeExact(send, recv, count, type.code, op.code, comm, stream));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void broadcast(long send, long recv, long count, DataType type, int root, MemorySegment comm, long stream) {
        try {
            check("ncclBroadcast", (int) broadcast.invokeExact(send, recv, count, type.code, root, comm, stream));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void commDestroy(MemorySegment comm) {
        try {
            check("ncclCommDestroy", (int) commDestroy.invokeExact(comm));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void commAbort(MemorySegment comm) {
        try {
            check("ncclCommAbort", (int) commAbort.invokeExact(comm));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void groupStart() {
        try {
            check("ncclGroupStart", (int) groupStart.invokeExact());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void groupEnd() {
        try {
            check("ncclGroupEnd", (int) groupEnd.invokeExact());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private void check(String call, int code) {
        if (code != 0) {
            throw new IllegalStateException(call + " failed: " + errorString(code) + " (NCCL result " + code + ", "
                    + name + "; NCCL_DEBUG=WARN says more)");
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    /** Whether an id carries anything: NCCL's are never all zero (they hold the root's address). */
    static boolean isBlank(byte[] id) {
        byte[] zero = new byte[id.length];
        return Arrays.equals(id, zero);
    }
}
