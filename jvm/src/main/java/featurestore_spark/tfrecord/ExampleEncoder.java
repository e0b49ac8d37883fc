package featurestore_spark.tfrecord;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.ByteType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.ShortType;
import org.apache.spark.sql.types.StringType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Rows of wire columns (integers, float, string, binary, or arrays of them) as framed TFRecords of
 * {@code tf.train.Example} messages, byte for byte what featurestore_spark's Python encoder
 * (tfexample.py) and TensorFlow write: one map entry per non-null column in the columns' order,
 * lists packed, an empty array a present empty list. Each record is framed as TensorFlow frames
 * it: the length (uint64, little-endian), its masked CRC32C, the data, the data's masked CRC32C.
 */
final class ExampleEncoder {
    static final String NULL_ELEMENT = "tfrecords cannot hold null elements inside an array: "
            + "drop or fill them before creating the training dataset";
    private static final int INT64 = 0, FLOAT = 1, BYTES = 2;
    // Feature's oneof: bytes_list = 1, float_list = 2, int64_list = 3 (length-delimited tags)
    private static final byte[] FEATURE_TAG = {0x1a, 0x12, 0x0a};
    private static final int HEADER = 12;   // the record's length and that length's CRC

    private final int[] kinds;
    private final DataType[] integers;      // per int64 column: its Spark type (byte ... long)
    private final boolean[] lists, utf8;
    private final byte[][] keys;            // each column's MapEntry.key field: tag, length, name
    private final int[] sizes;              // per column of the current row: its list's bytes, -1 null
    private final int[] packed;             // per int64 / float column: its packed run's bytes
    private final byte[][] scalars;         // per bytes column of the current row: the value
    private final byte[][][] elements;      // per bytes array column of the current row: the values
    private final CRC32C crc = new CRC32C();
    private byte[] buf = new byte[1 << 16];
    private int pos;

    ExampleEncoder(StructType schema) {
        StructField[] fields = schema.fields();
        int n = fields.length;
        kinds = new int[n];
        integers = new DataType[n];
        lists = new boolean[n];
        utf8 = new boolean[n];
        keys = new byte[n][];
        sizes = new int[n];
        packed = new int[n];
        scalars = new byte[n][];
        elements = new byte[n][][];
        for (int i = 0; i < n; i++) {
            DataType t = fields[i].dataType();
            if (t instanceof ArrayType) {
                lists[i] = true;
                t = ((ArrayType) t).elementType();
            }
            utf8[i] = t instanceof StringType;
            if (t instanceof LongType || t instanceof IntegerType || t instanceof ShortType
                    || t instanceof ByteType) {
                kinds[i] = INT64;
                integers[i] = t;
            } else if (t instanceof FloatType) {
                kinds[i] = FLOAT;
            } else if (t instanceof StringType || t instanceof BinaryType) {
                kinds[i] = BYTES;
            } else {
                throw new IllegalArgumentException("column " + fields[i].name() + " is "
                        + fields[i].dataType().simpleString() + ", not a TFRecord wire type "
                        + "(an integer, float, string, binary or an array of them)");
            }
            byte[] name = fields[i].name().getBytes(StandardCharsets.UTF_8);
            keys[i] = new byte[1 + varintSize(name.length) + name.length];
            keys[i][0] = 0x0a;
            int at = putVarint(keys[i], 1, name.length);
            System.arraycopy(name, 0, keys[i], at, name.length);
        }
    }

    static int varintSize(long v) {
        int n = 1;
        while ((v & ~0x7FL) != 0) {
            v >>>= 7;
            n++;
        }
        return n;
    }

    private static int putVarint(byte[] b, int at, long v) {
        while ((v & ~0x7FL) != 0) {
            b[at++] = (byte) ((v & 0x7F) | 0x80);
            v >>>= 7;
        }
        b[at++] = (byte) v;
        return at;
    }

    private static int delimited(int size) {
        return 1 + varintSize(size) + size;
    }

    private long integer(InternalRow row, int i) {
        DataType t = integers[i];
        return t instanceof LongType ? row.getLong(i) : t instanceof IntegerType ? row.getInt(i)
                : t instanceof ShortType ? row.getShort(i) : row.getByte(i);
    }

    private long integer(ArrayData a, int i, int j) {
        DataType t = integers[i];
        return t instanceof LongType ? a.getLong(j) : t instanceof IntegerType ? a.getInt(j)
                : t instanceof ShortType ? a.getShort(j) : a.getByte(j);
    }

    private byte[] bytesOf(InternalRow row, int i) {
        return utf8[i] ? row.getUTF8String(i).getBytes() : row.getBinary(i);
    }

    private byte[] bytesOf(ArrayData a, int i, int j) {
        return utf8[i] ? a.getUTF8String(j).getBytes() : a.getBinary(j);
    }

    /** The size of column i's list message (Int64List, FloatList or BytesList); for int64 and
     *  float lists, {@code packed[i]} is the size of their packed run. */
    private int listSize(InternalRow row, int i) {
        if (!lists[i]) {
            switch (kinds[i]) {
                case INT64:
                    packed[i] = varintSize(integer(row, i));
                    return delimited(packed[i]);
                case FLOAT:
                    packed[i] = 4;
                    return 6;
                default:
                    scalars[i] = bytesOf(row, i);
                    return delimited(scalars[i].length);
            }
        }
        ArrayData a = row.getArray(i);
        int n = a.numElements();
        for (int j = 0; j < n; j++) {
            if (a.isNullAt(j)) {
                throw new IllegalArgumentException(NULL_ELEMENT);
            }
        }
        if (kinds[i] == BYTES) {
            byte[][] values = new byte[n][];
            int sum = 0;
            for (int j = 0; j < n; j++) {
                values[j] = bytesOf(a, i, j);
                sum += delimited(values[j].length);
            }
            elements[i] = values;
            return sum;
        }
        int sum = 0;
        if (kinds[i] == FLOAT) {
            sum = 4 * n;
        } else {
            for (int j = 0; j < n; j++) {
                sum += varintSize(integer(a, i, j));
            }
        }
        packed[i] = sum;
        return n == 0 ? 0 : delimited(sum);
    }

    private void varint(long v) {
        pos = putVarint(buf, pos, v);
    }

    private void bytes(byte[] v) {
        System.arraycopy(v, 0, buf, pos, v.length);
        pos += v.length;
    }

    private void putFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        buf[pos++] = (byte) bits;
        buf[pos++] = (byte) (bits >>> 8);
        buf[pos++] = (byte) (bits >>> 16);
        buf[pos++] = (byte) (bits >>> 24);
    }

    private void putList(InternalRow row, int i) {
        if (kinds[i] == BYTES) {
            if (!lists[i]) {
                buf[pos++] = 0x0a;
                varint(scalars[i].length);
                bytes(scalars[i]);
                scalars[i] = null;
                return;
            }
            for (byte[] v : elements[i]) {
                buf[pos++] = 0x0a;
                varint(v.length);
                bytes(v);
            }
            elements[i] = null;
            return;
        }
        if (!lists[i]) {
            buf[pos++] = 0x0a;
            varint(packed[i]);
            if (kinds[i] == INT64) {
                varint(integer(row, i));
            } else {
                putFloat(row.getFloat(i));
            }
            return;
        }
        ArrayData a = row.getArray(i);
        int n = a.numElements();
        if (n == 0) {
            return;
        }
        buf[pos++] = 0x0a;
        varint(packed[i]);
        for (int j = 0; j < n; j++) {
            if (kinds[i] == INT64) {
                varint(integer(a, i, j));
            } else {
                putFloat(a.getFloat(j));
            }
        }
    }

    private void putIntLE(int at, int v) {
        buf[at] = (byte) v;
        buf[at + 1] = (byte) (v >>> 8);
        buf[at + 2] = (byte) (v >>> 16);
        buf[at + 3] = (byte) (v >>> 24);
    }

    private int maskedCrc(int from, int length) {
        crc.reset();
        crc.update(buf, from, length);
        int c = (int) crc.getValue();
        return ((c >>> 15) | (c << 17)) + 0xa282ead8;
    }

    /** Append {@code row}'s framed record to the buffer; its size in bytes. */
    int encode(InternalRow row) {
        int n = kinds.length, features = 0;
        for (int i = 0; i < n; i++) {
            if (row.isNullAt(i)) {
                sizes[i] = -1;
                continue;
            }
            int list = listSize(row, i);
            int feature = 1 + varintSize(list) + list;
            int entry = keys[i].length + 1 + varintSize(feature) + feature;
            sizes[i] = list;
            features += delimited(entry);
        }
        int example = delimited(features);
        if (buf.length - pos < HEADER + example + 4) {
            byte[] bigger = new byte[Math.max(buf.length * 2, pos + HEADER + example + 4)];
            System.arraycopy(buf, 0, bigger, 0, pos);
            buf = bigger;
        }
        int start = pos;
        putIntLE(pos, example);
        putIntLE(pos + 4, 0);
        putIntLE(pos + 8, maskedCrc(pos, 8));
        pos += HEADER;
        buf[pos++] = 0x0a;                      // Example.features = 1
        varint(features);
        for (int i = 0; i < n; i++) {
            int list = sizes[i];
            if (list < 0) {
                continue;
            }
            int feature = 1 + varintSize(list) + list;
            buf[pos++] = 0x0a;                  // Features.feature = 1: a map entry
            varint(keys[i].length + 1 + varintSize(feature) + feature);
            bytes(keys[i]);
            buf[pos++] = 0x12;                  // MapEntry.value = 2: the Feature
            varint(feature);
            buf[pos++] = FEATURE_TAG[kinds[i]];
            varint(list);
            putList(row, i);
        }
        putIntLE(pos, maskedCrc(start + HEADER, example));
        pos += 4;
        return pos - start;
    }

    int buffered() {
        return pos;
    }

    /** Write the buffered records to {@code out} and empty the buffer. */
    void flush(OutputStream out) throws IOException {
        out.write(buf, 0, pos);
        pos = 0;
    }
}
