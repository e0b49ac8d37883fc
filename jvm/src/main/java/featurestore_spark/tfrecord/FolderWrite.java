package featurestore_spark.tfrecord;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ChecksumFileSystem;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.write.BatchWrite;
import org.apache.spark.sql.connector.write.DataWriter;
import org.apache.spark.sql.connector.write.DataWriterFactory;
import org.apache.spark.sql.connector.write.PhysicalWriteInfo;
import org.apache.spark.sql.connector.write.Write;
import org.apache.spark.sql.connector.write.WriterCommitMessage;
import org.apache.spark.sql.types.StructType;

/**
 * One write of a new folder of TFRecord files, the protocol of featurestore_spark's Python
 * writer (tfrecord_files.Job): the driver checks that the folder is new and makes its staging
 * folder {@code _temporary/<job>}; each task writes its files there (a task finding the staging
 * folder gone, after a commit or an abort, writes nothing); the commit moves the files of the
 * attempts that succeeded into the folder and writes {@code _SUCCESS}; an abort deletes the
 * job's files and the folder when nothing else is in it.
 */
final class FolderWrite implements Write, BatchWrite {
    static final String STAGING = "_temporary";
    static final long ROLL_BYTES = 512L << 20;      // a new file past this many bytes
    private static final int FLUSH_BYTES = 1 << 20;
    private static final int MOVERS = 16;           // files a commit moves at once

    private final String path;
    private final StructType schema;
    private final Map<String, String> hadoop;
    private final String job = UUID.randomUUID().toString().replace("-", "").substring(0, 12);

    FolderWrite(String path, StructType schema, Map<String, String> hadoop) {
        this.path = path;
        this.schema = schema;
        this.hadoop = hadoop;
        new ExampleEncoder(schema);                 // refuse columns of other types up front
        try {
            Path folder = new Path(path);
            FileSystem fs = fileSystem(folder, hadoop);
            if (fs.exists(folder)) {
                throw new FileAlreadyExistsException("[PATH_ALREADY_EXISTS] " + path + " exists already");
            }
            fs.mkdirs(new Path(folder, STAGING + "/" + job));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The file system of {@code path}; for the local one without its checksum files (the
     *  records carry CRCs of their own, which the readers check). */
    static FileSystem fileSystem(Path path, Map<String, String> settings) throws IOException {
        Configuration conf = new Configuration(false);
        settings.forEach(conf::set);
        FileSystem fs = path.getFileSystem(conf);
        return fs instanceof ChecksumFileSystem ? ((ChecksumFileSystem) fs).getRawFileSystem() : fs;
    }

    @Override
    public String description() {
        return TFRecordSource.NAME + " " + path;
    }

    @Override
    public BatchWrite toBatch() {
        return this;
    }

    @Override
    public DataWriterFactory createBatchWriterFactory(PhysicalWriteInfo info) {
        return new Factory(path, job, schema, hadoop);
    }

    /** The files a task attempt wrote (under the staging folder). */
    static final class Files implements WriterCommitMessage {
        private static final long serialVersionUID = 1L;
        final List<String> files;

        Files(List<String> files) {
            this.files = files;
        }
    }

    @Override
    public void commit(WriterCommitMessage[] messages) {
        Path folder = new Path(path);
        try {
            FileSystem fs = fileSystem(folder, hadoop);
            List<String> files = new ArrayList<>();
            for (WriterCommitMessage m : messages) {
                if (m != null) {
                    files.addAll(((Files) m).files);
                }
            }
            ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, Math.min(MOVERS, files.size())));
            try {
                List<Future<?>> moves = new ArrayList<>();
                for (String staged : files) {
                    moves.add(pool.submit(() -> {
                        Path from = new Path(staged);
                        if (!fs.rename(from, new Path(folder, from.getName()))) {
                            throw new IOException("could not move " + staged + " into " + path);
                        }
                        return null;
                    }));
                }
                for (Future<?> move : moves) {
                    move.get();
                }
            } finally {
                pool.shutdownNow();
            }
            try {
                dropStaging(fs, folder);
            } catch (IOException e) {       // the data is committed: readers skip _temporary
                org.slf4j.LoggerFactory.getLogger(FolderWrite.class).warn(
                        "TFRecords of {} committed; their staging folder stays: {}", path, e.toString());
            }
            fs.create(new Path(folder, "_SUCCESS"), true).close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (Exception e) {
            throw new RuntimeException("could not commit the TFRecords of " + path, e);
        }
    }

    @Override
    public void abort(WriterCommitMessage[] messages) {
        Path folder = new Path(path);
        try {
            FileSystem fs = fileSystem(folder, hadoop);
            if (!fs.exists(folder)) {
                return;
            }
            dropStaging(fs, folder);
            for (FileStatus s : fs.listStatus(folder)) {
                if (s.getPath().getName().contains(job)) {       // moved by a commit that failed
                    fs.delete(s.getPath(), false);
                }
            }
            if (fs.listStatus(folder).length == 0) {
                fs.delete(folder, false);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void dropStaging(FileSystem fs, Path folder) throws IOException {
        Path staging = new Path(folder, STAGING);
        fs.delete(new Path(staging, job), true);
        if (fs.exists(staging) && fs.listStatus(staging).length == 0) {
            fs.delete(staging, false);
        }
    }

    static final class Factory implements DataWriterFactory, Serializable {
        private static final long serialVersionUID = 1L;
        private final String path, job;
        private final StructType schema;
        private final Map<String, String> hadoop;

        Factory(String path, String job, StructType schema, Map<String, String> hadoop) {
            this.path = path;
            this.job = job;
            this.schema = schema;
            this.hadoop = hadoop;
        }

        @Override
        public DataWriter<InternalRow> createWriter(int partitionId, long taskId) {
            return new Writer(this, partitionId, taskId);
        }
    }

    /** One task attempt's files. */
    static final class Writer implements DataWriter<InternalRow> {
        private final Factory f;
        private final String task;
        private final ExampleEncoder encoder;
        private final List<String> files = new ArrayList<>();
        private FileSystem fs;
        private FSDataOutputStream out;
        private long written;

        Writer(Factory f, int partitionId, long taskId) {
            this.f = f;
            this.task = String.format("%05d-%s-%d", partitionId, f.job, taskId);
            this.encoder = new ExampleEncoder(f.schema);
        }

        @Override
        public void write(InternalRow row) throws IOException {
            if (out == null || written > ROLL_BYTES) {
                open();
            }
            written += encoder.encode(row);
            if (encoder.buffered() >= FLUSH_BYTES) {
                encoder.flush(out);
            }
        }

        private void open() throws IOException {
            close();
            Path staging = new Path(new Path(f.path), STAGING + "/" + f.job);
            if (fs == null) {
                fs = fileSystem(staging, f.hadoop);
            }
            if (!fs.exists(staging)) {
                throw new FileNotFoundException(staging + " is gone: the write of " + f.path
                        + " was committed or aborted, so this task attempt writes nothing more");
            }
            Path file = new Path(staging, String.format("part-%s-c%03d.tfrecord", task, files.size()));
            files.add(file.toString());
            out = fs.create(file, false);
            written = 0;
        }

        @Override
        public WriterCommitMessage commit() throws IOException {
            close();
            return new Files(files);
        }

        @Override
        public void abort() throws IOException {
            if (out != null) {
                out.close();
                out = null;
            }
            for (String file : files) {
                fs.delete(new Path(file), false);
            }
        }

        @Override
        public void close() throws IOException {
            if (out != null) {
                encoder.flush(out);
                out.close();
                out = null;
            }
        }
    }
}
