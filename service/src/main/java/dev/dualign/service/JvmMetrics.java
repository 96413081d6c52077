package dev.dualign.service;

import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryUsage;
import java.lang.management.OperatingSystemMXBean;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * The JVM's and the process's own metrics on every {@code /metrics}, from the JDK's MXBeans and, on
 * Linux, {@code /proc/self/status}, under the names of the Prometheus Java client (so its
 * dashboards and alert rules read them): {@code jvm_memory_*_bytes{area}},
 * {@code jvm_memory_pool_used_bytes{pool}}, {@code jvm_buffer_pool_*{pool}} (direct and mapped
 * buffers), {@code jvm_gc_collection_seconds{gc}} (a summary: {@code _count}, {@code _sum}),
 * {@code jvm_threads_*}, {@code process_cpu_seconds_total}, {@code process_start_time_seconds},
 * {@code process_open_fds}, {@code process_max_fds}, {@code process_resident_memory_bytes} and
 * {@code process_virtual_memory_bytes}.
 *
 * <p>The resident set size is the figure that matters for the scorers and the policy: libtorch and
 * onnxruntime allocate outside the Java heap and outside direct buffers, so only the process's RSS
 * shows them (RSS minus committed heap and non-heap is, roughly, native memory). A container is
 * killed on RSS, not on heap.
 */
public final class JvmMetrics {
    private JvmMetrics() {}

    /** Registers everything on {@code m} (again: the same series, replaced); returns {@code m}. */
    public static ServiceMetrics register(ServiceMetrics m) {
        memoryArea(m, "jvm_memory_used_bytes", "Used bytes of a memory area (heap, nonheap)", MemoryUsage::getUsed);
        memoryArea(m, "jvm_memory_committed_bytes", "Committed bytes of a memory area (heap, nonheap)", MemoryUsage::getCommitted);
        memoryArea(m, "jvm_memory_max_bytes", "Max bytes of a memory area (heap, nonheap); -1 when undefined", MemoryUsage::getMax);
        List<MemoryPoolMXBean> pools = ManagementFactory.getMemoryPoolMXBeans();
        m.gauges("jvm_memory_pool_used_bytes", "Used bytes of a JVM memory pool",
                () -> perBean(pools, p -> Map.of("pool", p.getName()), p -> (double) p.getUsage().getUsed()));
        List<BufferPoolMXBean> buffers = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class);
        m.gauges("jvm_buffer_pool_used_bytes", "Bytes used by a buffer pool (direct, mapped)",
                () -> perBean(buffers, b -> Map.of("pool", b.getName()), b -> (double) b.getMemoryUsed()));
        m.gauges("jvm_buffer_pool_capacity_bytes", "Capacity in bytes of a buffer pool (direct, mapped)",
                () -> perBean(buffers, b -> Map.of("pool", b.getName()), b -> (double) b.getTotalCapacity()));
        m.gauges("jvm_buffer_pool_used_buffers", "Buffers in a buffer pool (direct, mapped)",
                () -> perBean(buffers, b -> Map.of("pool", b.getName()), b -> (double) b.getCount()));
        List<GarbageCollectorMXBean> gcs = ManagementFactory.getGarbageCollectorMXBeans();
        m.summaries("jvm_gc_collection_seconds", "Time spent in a garbage collector's collections, seconds", () -> {
            Map<Map<String, String>, double[]> out = new LinkedHashMap<>();
            for (GarbageCollectorMXBean gc : gcs) {
                // -1: undefined for this collector; reported as 0 so the series stays a counter
                out.put(Map.of("gc", gc.getName()),
                        new double[] {Math.max(0, gc.getCollectionCount()), Math.max(0, gc.getCollectionTime()) / 1000.0});
            }
            return out;
        });
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        m.gauge("jvm_threads_current", "Current thread count of the JVM", Map.of(), threads::getThreadCount);
        m.gauge("jvm_threads_daemon", "Daemon thread count of the JVM", Map.of(), threads::getDaemonThreadCount);
        m.gauge("jvm_threads_peak", "Peak thread count of the JVM", Map.of(), threads::getPeakThreadCount);
        m.counter("jvm_threads_started_total", "Threads started since the JVM started", Map.of(), threads::getTotalStartedThreadCount);
        m.gauge("process_start_time_seconds", "Start time of the process, seconds since the epoch", Map.of(),
                () -> ManagementFactory.getRuntimeMXBean().getStartTime() / 1000.0);
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun && sun.getProcessCpuTime() >= 0) {
            m.counter("process_cpu_seconds_total", "User and system CPU time of the process, seconds", Map.of(),
                    () -> Math.max(0, sun.getProcessCpuTime()) / 1e9);
        }
        if (os instanceof com.sun.management.UnixOperatingSystemMXBean unix) {
            m.gauge("process_open_fds", "Open file descriptors", Map.of(), unix::getOpenFileDescriptorCount);
            m.gauge("process_max_fds", "Maximum number of open file descriptors", Map.of(), unix::getMaxFileDescriptorCount);
        }
        if (procStatus("VmRSS").isPresent()) { // Linux
            m.gauge("process_resident_memory_bytes", "Resident set size in bytes: heap, JVM internals and native "
                    + "allocations (libtorch, onnxruntime) together", Map.of(), () -> procStatus("VmRSS").orElse(-1));
            m.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes", Map.of(),
                    () -> procStatus("VmSize").orElse(-1));
        }
        m.gauge("jvm_info", "The JVM's version", Map.of("version", System.getProperty("java.runtime.version", ""),
                "vendor", System.getProperty("java.vm.vendor", ""), "runtime", System.getProperty("java.runtime.name", "")), () -> 1);
        return m;
    }

    private static void memoryArea(ServiceMetrics m, String name, String help, ToLongFunction<MemoryUsage> value) {
        var memory = ManagementFactory.getMemoryMXBean();
        m.gauge(name, help, Map.of("area", "heap"), () -> value.applyAsLong(memory.getHeapMemoryUsage()));
        m.gauge(name, help, Map.of("area", "nonheap"), () -> value.applyAsLong(memory.getNonHeapMemoryUsage()));
    }

    private static <T> Map<Map<String, String>, Double> perBean(List<T> beans, Function<T, Map<String, String>> labels,
            Function<T, Double> value) {
        Map<Map<String, String>, Double> out = new LinkedHashMap<>();
        for (T b : beans) {
            out.put(labels.apply(b), value.apply(b));
        }
        return out;
    }

    /** A {@code kB} field of {@code /proc/self/status} in bytes (e.g. {@code VmRSS}); empty off Linux. */
    public static OptionalLong procStatus(String field) {
        try {
            return statusField(Files.readString(Path.of("/proc/self/status")), field);
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
    }

    /** A field of a {@code /proc/PID/status} text, {@code "VmRSS:\t  123456 kB"}, in bytes. */
    static OptionalLong statusField(String status, String field) {
        for (String line : status.split("\n")) {
            if (line.startsWith(field + ":")) {
                String[] parts = line.substring(field.length() + 1).trim().split("\\s+");
                long n = Long.parseLong(parts[0]);
                return OptionalLong.of(parts.length > 1 && parts[1].equalsIgnoreCase("kB") ? n * 1024 : n);
            }
        }
        return OptionalLong.empty();
    }
}
