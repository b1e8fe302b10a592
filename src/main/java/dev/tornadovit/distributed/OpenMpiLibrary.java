package dev.tornadovit.distributed;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The few functions of Open MPI's C library that data-parallel training needs, bound through Java's foreign-function
 * API (Open MPI ships no Java bindings any more). Open MPI's predefined handles — {@code MPI_COMM_WORLD},
 * {@code MPI_FLOAT}, {@code MPI_SUM} … — are the addresses of global objects ({@code ompi_mpi_comm_world} …), so
 * they are looked up as symbols; {@code MPI_IN_PLACE} is the address 1. This is Open MPI's ABI (libmpi.so.40, Open
 * MPI 3 to 5); MPICH's differs and is not supported.
 *
 * <p>Every call returns MPI's error code; on {@code MPI_COMM_WORLD} the default handler aborts the job on an error
 * before it returns, so a non-zero code here is reported as a failure of the call named.
 */
final class OpenMpiLibrary {
    /** The library's soname, the same for Open MPI 3, 4 and 5; {@code TORNADOVIT_LIBMPI} names another file. */
    static final String DEFAULT_LIBRARY = "libmpi.so.40";
    static final int THREAD_SERIALIZED = 2;
    private static final int RTLD_NOW = 2, RTLD_GLOBAL = 0x100;

    final MemorySegment commWorld, floatType, doubleType, byteType, longType, sum, max, min;
    static final MemorySegment IN_PLACE = MemorySegment.ofAddress(1);

    /** {@code MPI_STATUSES_IGNORE}: Open MPI's null pointer. */
    static final MemorySegment STATUSES_IGNORE = MemorySegment.NULL;

    private final MethodHandle initThread, initialized, finalized, commRank, commSize, allreduce, iallreduce, testall,
            waitall, bcast, barrier, abort, finalizeCall;

    private OpenMpiLibrary(SymbolLookup lib) {
        Linker linker = Linker.nativeLinker();
        commWorld = symbol(lib, "ompi_mpi_comm_world");
        floatType = symbol(lib, "ompi_mpi_float");
        doubleType = symbol(lib, "ompi_mpi_double");
        byteType = symbol(lib, "ompi_mpi_byte");
        longType = symbol(lib, "ompi_mpi_long");
        sum = symbol(lib, "ompi_mpi_op_sum");
        max = symbol(lib, "ompi_mpi_op_max");
        min = symbol(lib, "ompi_mpi_op_min");
        initThread = linker.downcallHandle(symbol(lib, "MPI_Init_thread"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
        initialized = linker.downcallHandle(symbol(lib, "MPI_Initialized"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        finalized = linker.downcallHandle(symbol(lib, "MPI_Finalized"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        commRank = linker.downcallHandle(symbol(lib, "MPI_Comm_rank"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        commSize = linker.downcallHandle(symbol(lib, "MPI_Comm_size"), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        allreduce = linker.downcallHandle(symbol(lib, "MPI_Allreduce"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        iallreduce = linker.downcallHandle(symbol(lib, "MPI_Iallreduce"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS));
        testall = linker.downcallHandle(symbol(lib, "MPI_Testall"),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
        waitall = linker.downcallHandle(symbol(lib, "MPI_Waitall"), FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        bcast = linker.downcallHandle(symbol(lib, "MPI_Bcast"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
        barrier = linker.downcallHandle(symbol(lib, "MPI_Barrier"), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        abort = linker.downcallHandle(symbol(lib, "MPI_Abort"), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        finalizeCall = linker.downcallHandle(symbol(lib, "MPI_Finalize"), FunctionDescriptor.of(JAVA_INT));
    }

    /**
     * Loads the library with {@code RTLD_GLOBAL}, as a C program linked against it would have it: Open MPI's plug-ins,
     * opened later by the library itself, resolve its symbols from the global namespace.
     */
    static OpenMpiLibrary load() {
        String env = System.getenv("TORNADOVIT_LIBMPI");
        String name = env == null || env.isBlank() ? DEFAULT_LIBRARY : env;
        Linker linker = Linker.nativeLinker();
        MemorySegment dlopen = linker.defaultLookup().find("dlopen")
                .orElseThrow(() -> new IllegalStateException("the C library has no dlopen"));
        MethodHandle open = linker.downcallHandle(dlopen, FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
        Arena arena = Arena.global();
        try {
            MemorySegment handle = (MemorySegment) open.invokeExact(arena.allocateFrom(name), RTLD_NOW | RTLD_GLOBAL);
            if (handle.address() == 0) {
                throw new IllegalArgumentException("cannot load Open MPI's " + name + " (this process runs under mpirun, "
                        + "OMPI_COMM_WORLD_SIZE is set): install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin) "
                        + "or name the library with TORNADOVIT_LIBMPI");
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        SymbolLookup lib = SymbolLookup.libraryLookup(name, arena);
        if (lib.find("ompi_mpi_comm_world").isEmpty()) {
            throw new IllegalArgumentException(name + " is not Open MPI's library (it has no ompi_mpi_comm_world); "
                    + "TornadoViT binds Open MPI only");
        }
        return new OpenMpiLibrary(lib);
    }

    private static MemorySegment symbol(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalArgumentException("Open MPI's library lacks " + name));
    }

    /** MPI_Init_thread(NULL, NULL, required, &provided); returns the thread level provided. */
    int initThread(int required) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment provided = a.allocate(JAVA_INT);
            check("MPI_Init_thread", (int) initThread.invokeExact(MemorySegment.NULL, MemorySegment.NULL, required, provided));
            return provided.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    boolean initialized() {
        return flag(initialized, "MPI_Initialized");
    }

    boolean finalized() {
        return flag(finalized, "MPI_Finalized");
    }

    private static boolean flag(MethodHandle call, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            check(name, (int) call.invokeExact(out));
            return out.get(JAVA_INT, 0) != 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int rank() {
        return intOut(commRank, "MPI_Comm_rank");
    }

    int size() {
        return intOut(commSize, "MPI_Comm_size");
    }

    private int intOut(MethodHandle call, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            check(name, (int) call.invokeExact(commWorld, out));
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** MPI_Allreduce(MPI_IN_PLACE, buffer, count, type, op, MPI_COMM_WORLD). */
    void allreduceInPlace(MemorySegment buffer, int count, MemorySegment type, MemorySegment op) {
        try {
            check("MPI_Allreduce", (int) allreduce.invokeExact(IN_PLACE, buffer, count, type, op, commWorld));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * MPI_Iallreduce(MPI_IN_PLACE, buffer, count, type, op, MPI_COMM_WORLD, request): starts the all-reduce and
     * returns at once; {@code request} (one MPI_Request, a pointer in Open MPI) receives its handle. The buffer must
     * stay untouched until {@link #testAll} or {@link #waitAll} reports the request done.
     */
    void iallreduceInPlace(MemorySegment buffer, int count, MemorySegment type, MemorySegment op, MemorySegment request) {
        try {
            check("MPI_Iallreduce", (int) iallreduce.invokeExact(IN_PLACE, buffer, count, type, op, commWorld, request));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * MPI_Testall(count, requests, &flag, MPI_STATUSES_IGNORE): advances the requests (Open MPI progresses
     * non-blocking collectives only inside its calls) and returns whether all are done; done ones become
     * MPI_REQUEST_NULL.
     */
    boolean testAll(int count, MemorySegment requests, MemorySegment flag) {
        try {
            check("MPI_Testall", (int) testall.invokeExact(count, requests, flag, STATUSES_IGNORE));
            return flag.get(JAVA_INT, 0) != 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** MPI_Waitall(count, requests, MPI_STATUSES_IGNORE). */
    void waitAll(int count, MemorySegment requests) {
        try {
            check("MPI_Waitall", (int) waitall.invokeExact(count, requests, STATUSES_IGNORE));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void broadcast(MemorySegment buffer, int count, MemorySegment type, int root) {
        try {
            check("MPI_Bcast", (int) bcast.invokeExact(buffer, count, type, root, commWorld));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void barrier() {
        try {
            check("MPI_Barrier", (int) barrier.invokeExact(commWorld));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** MPI_Abort on MPI_COMM_WORLD: mpirun ends every rank; does not return. */
    void abort(int code) {
        try {
            int ignored = (int) abort.invokeExact(commWorld, code);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void finalizeMpi() {
        try {
            check("MPI_Finalize", (int) finalizeCall.invokeExact());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void check(String call, int code) {
        if (code != 0) throw new IllegalStateException(call + " failed with MPI error code " + code);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
