package dev.dualign.app;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dualign.core.config.Config;
import dev.dualign.core.config.ConfigOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code conf/dualign.yaml} is the configuration's documentation: every key a module defines is in
 * it with a comment and its default, and every key in it is defined by a module.
 */
class ConfigFileDocTest {
    static final Path FILE = Path.of("../conf/dualign.yaml");

    /** A key of the file: its dotted name and whether a comment says what it is. */
    record Key(String name, boolean documented) {}

    /**
     * The file's leaf keys, by reading its text (a YAML parser drops comments): a key is documented
     * by a comment at the end of its line or by the comment lines right above it.
     */
    static Map<String, Key> keysOf(List<String> lines) {
        Map<String, Key> keys = new LinkedHashMap<>();
        Deque<int[]> indents = new ArrayDeque<>(); // indentation of each open parent
        Deque<String> names = new ArrayDeque<>();
        boolean commentAbove = false;
        for (String line : lines) {
            String t = line.strip();
            if (t.isEmpty()) {
                commentAbove = false;
                continue;
            }
            int indent = line.indexOf(t);
            if (t.startsWith("#")) {
                commentAbove = true;
                continue;
            }
            while (!indents.isEmpty() && indents.peek()[0] >= indent) {
                indents.pop();
                names.pop();
            }
            int colon = t.indexOf(':');
            String name = t.substring(0, colon).strip();
            String rest = t.substring(colon + 1).strip();
            String value = rest.contains(" #") ? rest.substring(0, rest.indexOf(" #")).strip() : rest.startsWith("#") ? "" : rest;
            boolean trailing = rest.startsWith("#") || rest.contains(" #");
            List<String> path = new ArrayList<>(names);
            java.util.Collections.reverse(path);
            path.add(name);
            String dotted = String.join(".", path);
            if (value.isEmpty()) { // a section: its keys follow, indented
                indents.push(new int[] {indent});
                names.push(name);
            } else {
                keys.put(dotted, new Key(dotted, trailing || commentAbove));
            }
            commentAbove = false;
        }
        return keys;
    }

    @Test
    void everyDefinedKeyIsDocumentedWithItsDefaultAndEveryDocumentedKeyIsDefined() throws Exception {
        Map<String, Key> file = keysOf(Files.readAllLines(FILE));
        List<String> defined = DualignOptions.ALL.stream().map(ConfigOption::key).toList();
        List<String> undocumented = defined.stream().filter(k -> !file.containsKey(k) || !file.get(k).documented()).toList();
        List<String> unknown = file.keySet().stream()
                .filter(k -> !defined.contains(k) && DualignOptions.PASS_THROUGH.stream().noneMatch((k + ".")::startsWith)).toList();
        assertThat(undocumented).as("keys defined in an *Options class without a commented line in %s", FILE).isEmpty();
        assertThat(unknown).as("keys in %s that no *Options class defines", FILE).isEmpty();
        Config c = DualignOptions.load(FILE);
        for (ConfigOption<?> o : DualignOptions.ALL) {
            assertThat((Object) c.get(o)).as("%s in %s is its default", o.key(), FILE).isEqualTo(o.defaultValue());
        }
    }

    @Test
    void theReaderSeesSectionsCommentsAndTrailingComments() {
        Map<String, Key> keys = keysOf(List.of("a:", "  # why", "  b: 1", "  c: 2", "  d:", "    e: x   # what", "f: 3"));
        assertThat(keys.keySet()).containsExactly("a.b", "a.c", "a.d.e", "f");
        assertThat(keys.get("a.b").documented()).isTrue();
        assertThat(keys.get("a.c").documented()).isFalse();
        assertThat(keys.get("a.d.e").documented()).isTrue();
        assertThat(keys.get("f").documented()).isFalse();
    }
}
