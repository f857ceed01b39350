package ai.nos.spark;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A Spark standalone cluster of separate JVMs on loopback: a master and workers, started from this
 * JVM's class path, each bound to 127.0.0.1 only (addresses, web UIs and the executors the workers
 * start, through SPARK_LOCAL_IP).
 *
 * <p>A worker starts executors with {@code $SPARK_HOME/jars/*} as their class path, so the cluster
 * gets a SPARK_HOME of its own whose {@code jars/} links every jar of this class path; the
 * directories (this module's classes) reach the executors through
 * {@link #executorClassPath()}. {@link #close()} ends every JVM it started and their children.
 */
final class LocalCluster implements AutoCloseable {
  private static final String LOOPBACK = "127.0.0.1";
  private static final long START_TIMEOUT_MS = 90_000;

  private final Path home;
  private final int masterPort;
  private final List<Process> processes = new ArrayList<>();

  private LocalCluster(Path home, int masterPort) {
    this.home = home;
    this.masterPort = masterPort;
  }

  /** Starts a master and {@code workers} workers of one core and {@code memory} each. */
  static LocalCluster start(Path dir, int workers, String memory) throws Exception {
    return start(dir, workers, 1, memory);
  }

  /**
   * Starts a master and {@code workers} workers of {@code cores} cores and {@code memory} each;
   * a worker of n cores runs up to n executors of one core, each its own JVM.
   */
  static LocalCluster start(Path dir, int workers, int cores, String memory) throws Exception {
    Path home = Files.createDirectories(dir.resolve("spark-home"));
    Path jars = Files.createDirectories(home.resolve("jars"));
    // The launcher takes jars/ for a release layout only when RELEASE is there.
    Files.writeString(home.resolve("RELEASE"), "Spark for the nos-spark tests\n");
    for (String entry : classPath()) {
      Path p = Path.of(entry);
      if (entry.endsWith(".jar") && Files.isRegularFile(p)) {
        Path link = jars.resolve(p.getFileName());
        if (!Files.exists(link)) {
          Files.createSymbolicLink(link, p.toAbsolutePath());
        }
      }
    }
    LocalCluster c = new LocalCluster(home, freePort());
    try {
      c.launch("master", "org.apache.spark.deploy.master.Master", "--host", LOOPBACK, "--port",
          String.valueOf(c.masterPort), "--webui-port", "0");
      c.awaitPort(c.masterPort, c.processes.get(0));
      for (int i = 0; i < workers; i++) {
        Path work = Files.createDirectories(dir.resolve("work-" + i));
        c.launch("worker-" + i, "org.apache.spark.deploy.worker.Worker", c.masterUrl(), "--host",
            LOOPBACK, "--cores", String.valueOf(cores), "--memory", memory, "--webui-port", "0",
            "--work-dir", work.toString());
      }
      return c;
    } catch (Exception | Error e) {
      c.close();
      throw e;
    }
  }

  String masterUrl() {
    return "spark://" + LOOPBACK + ":" + masterPort;
  }

  /** The directories of this class path, which the workers' {@code jars/} cannot hold. */
  static String executorClassPath() {
    return String.join(File.pathSeparator, classPath().stream()
        .filter(e -> Files.isDirectory(Path.of(e))).toList());
  }

  private static List<String> classPath() {
    return List.of(System.getProperty("java.class.path").split(File.pathSeparator));
  }

  private void launch(String name, String mainClass, String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xmx256m");
    // The master and the workers only pass messages: the client compiler alone, one compiler
    // thread and the serial collector start them sooner and leave the cores to the executors
    // (the CI machine has two).
    cmd.addAll(List.of("-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1",
        "-XX:+UseSerialGC"));
    cmd.addAll(List.of(System.getProperty("nos.spark.opens", "").split(" ")));
    cmd.removeIf(String::isBlank);
    cmd.add("-Dspark.master.rest.enabled=false");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(mainClass);
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("SPARK_HOME", home.toString());
    pb.environment().put("SPARK_LOCAL_IP", LOOPBACK);
    pb.environment().put("SPARK_LOCAL_HOSTNAME", "localhost");
    pb.environment().put("SPARK_SCALA_VERSION", "2.13");
    pb.redirectErrorStream(true);
    pb.redirectOutput(home.resolve(name + ".log").toFile());
    processes.add(pb.start());
  }

  private void awaitPort(int port, Process p) throws Exception {
    long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
    while (System.currentTimeMillis() < deadline) {
      if (!p.isAlive()) {
        throw new IllegalStateException("the Spark master exited with " + p.exitValue()
            + "; its log: " + Files.readString(home.resolve("master.log")));
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress(LOOPBACK, port), 500);
        return;
      } catch (IOException notYet) {
        p.waitFor(200, TimeUnit.MILLISECONDS);
      }
    }
    throw new IllegalStateException("the Spark master did not listen on " + LOOPBACK + ":" + port
        + " within " + START_TIMEOUT_MS + " ms; its log: "
        + Files.readString(home.resolve("master.log")));
  }

  /** The log of one of the cluster's JVMs ("master", "worker-0", ...). */
  String log(String name) throws IOException {
    return Files.readString(home.resolve(name + ".log"));
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
      return s.getLocalPort();
    }
  }

  /**
   * Copies the logs of the master, the workers and their executors into {@code target}, where a
   * failed CI run keeps them (the cluster's own folder is a temporary one).
   */
  void keepLogs(Path target) throws IOException {
    Files.createDirectories(target);
    try (var files = Files.walk(home.getParent())) {
      for (Path f : (Iterable<Path>) files::iterator) {
        String n = f.getFileName().toString();
        if (Files.isRegularFile(f) && (n.endsWith(".log") || n.equals("stderr")
            || n.equals("stdout"))) {
          String flat = home.getParent().relativize(f).toString().replace(File.separatorChar, '_');
          Files.copy(f, target.resolve(flat), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
  }

  /** Ends the workers (and the executors they started) and the master; waits at most 30 s. */
  @Override
  public void close() {
    List<ProcessHandle> all = new ArrayList<>();
    for (int i = processes.size() - 1; i >= 0; i--) {
      Process p = processes.get(i);
      p.descendants().forEach(all::add);
      all.add(p.toHandle());
    }
    all.forEach(ProcessHandle::destroy);
    long deadline = System.currentTimeMillis() + 30_000;
    for (ProcessHandle h : all) {
      try {
        h.onExit().get(Math.max(1, deadline - System.currentTimeMillis()), TimeUnit.MILLISECONDS);
      } catch (Exception notYet) {
        h.destroyForcibly();
      }
    }
  }
}
