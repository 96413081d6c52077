import dev.dualign.model.Devices;
import dev.dualign.model.registry.ModelRegistry;
import dev.dualign.model.scorer.Scorer;
import dev.dualign.model.scorer.ScorerSet;
import dev.dualign.service.JvmMetrics;
import dev.dualign.world.World;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** RSS (VmRSS) before and after loading the task manager's ScorerSet and scoring with it. */
public class ScorerRss {
    static long mib(String f) { return JvmMetrics.procStatus(f).getAsLong() >> 20; }
    static void show(String what) {
        System.gc();
        Runtime r = Runtime.getRuntime();
        System.out.printf("%-44s VmRSS %5d MiB  heap used %4d MiB  committed %4d MiB%n", what, mib("VmRSS"),
                (r.totalMemory() - r.freeMemory()) >> 20, r.totalMemory() >> 20);
    }
    public static void main(String[] a) throws Exception {
        Path root = Path.of(a[0]);
        List<String> utilities = List.of(a[1].split(","));
        show("JVM started");
        ai.djl.engine.Engine.getEngine("PyTorch");
        show("libtorch loaded (PyTorch engine)");
        long files = 0;
        try (var s = Files.walk(root)) {
            files = s.filter(p -> p.toString().endsWith(".pt") || p.toString().endsWith(".params")).mapToLong(p -> p.toFile().length()).sum();
        }
        ModelRegistry reg = new ModelRegistry(root);
        try (ScorerSet set = ScorerSet.open(reg, utilities, Devices.resolve("cpu"))) {
            show("ScorerSet open (reward + " + utilities + ")");
            SplittableRandom rnd = new SplittableRandom(1);
            List<Scorer.PromptResponse> batch = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                World.Prompt p = World.prompt(rnd);
                batch.add(new Scorer.PromptResponse(p.text(), World.mixedResponse(p.intent(), rnd)));
            }
            for (int i = 0; i < 50; i++) {
                set.score(batch);
            }
            show("after 50 batches of 64");
            try (ScorerSet second = ScorerSet.open(reg, utilities, Devices.resolve("cpu"))) { // a second slot's
                for (int i = 0; i < 50; i++) {
                    second.score(batch);
                }
                show("a second ScorerSet, after 50 batches of 64");
            }
            System.out.printf("VmHWM (peak RSS) %d MiB; model files in the registry %d MiB%n", mib("VmHWM"), files >> 20);
        }
    }
}
