package featurestore_spark.tfrecord;

import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.connector.catalog.SupportsWrite;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.catalog.TableProvider;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.connector.write.LogicalWriteInfo;
import org.apache.spark.sql.connector.write.WriteBuilder;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * A write-only Spark data source (the public DataSource V2 API) of TFRecord files of
 * {@code tf.train.Example} records, for featurestore_spark's training datasets:
 * {@code df.write.format("featurestore-tfrecord").mode("append").save(folder)} writes the rows
 * of wire columns (bigint, float, string, binary, arrays of them) under the new folder
 * {@code folder}, through Hadoop's FileSystem API (any Hadoop path: file, hdfs, s3a). Options
 * whose names start with {@code fs.} are Hadoop settings for this write. Reading stays with
 * Spark's {@code binaryFile} source and featurestore_spark's decoder.
 */
public final class TFRecordSource implements TableProvider, DataSourceRegister {
    public static final String NAME = "featurestore-tfrecord";

    @Override
    public String shortName() {
        return NAME;
    }

    @Override
    public StructType inferSchema(CaseInsensitiveStringMap options) {
        throw new UnsupportedOperationException(NAME + " only writes: read TFRecords with "
                + "featurestore_spark (get_training_dataset)");
    }

    @Override
    public boolean supportsExternalMetadata() {
        return true;
    }

    @Override
    public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> properties) {
        if (partitioning.length > 0) {
            throw new IllegalArgumentException(NAME + " does not write partitioned folders");
        }
        return new Folder(schema, new HashMap<>(properties));
    }

    /** The folder a write makes. */
    static final class Folder implements Table, SupportsWrite {
        private final StructType schema;
        private final Map<String, String> properties;

        Folder(StructType schema, Map<String, String> properties) {
            this.schema = schema;
            this.properties = properties;
        }

        @Override
        public String name() {
            return NAME + " " + properties.get("path");
        }

        @Override
        @SuppressWarnings("deprecation")
        public StructType schema() {
            return schema;
        }

        @Override
        public Set<TableCapability> capabilities() {
            return EnumSet.of(TableCapability.BATCH_WRITE);
        }

        @Override
        public WriteBuilder newWriteBuilder(LogicalWriteInfo info) {
            String path = properties.get("path");
            if (path == null || path.isEmpty()) {
                throw new IllegalArgumentException(NAME + " needs the folder to write: save(path)");
            }
            Map<String, String> hadoop = new HashMap<>();
            for (Map.Entry<String, String> e : SparkSession.active().sparkContext().hadoopConfiguration()) {
                hadoop.put(e.getKey(), e.getValue());
            }
            for (Map.Entry<String, String> e : properties.entrySet()) {
                if (e.getKey().startsWith("fs.") || e.getKey().startsWith("hadoop.")) {
                    hadoop.put(e.getKey(), e.getValue());
                }
            }
            StructType rows = info.schema();
            return new WriteBuilder() {
                @Override
                public org.apache.spark.sql.connector.write.Write build() {
                    return new FolderWrite(path, rows, hadoop);
                }
            };
        }
    }
}
