package dev.dualign.world.bootstrap;

/** Where long-running steps report how far they are. */
public interface Progress {
    void stage(String name, int total);

    void advance(int done);

    void finish(String summary);

    Progress NONE = new Progress() {
        @Override
        public void stage(String name, int total) {}

        @Override
        public void advance(int done) {}

        @Override
        public void finish(String summary) {}
    };
}
