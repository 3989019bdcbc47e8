package org.flinksqlgen.kafka;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.utils.ProjectedRowData;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits a shared checked read once per record: a valid row (no {@code __error}) goes to every
 * {@code scan.rows = valid} scan of the job, a bad row to every {@code bad} scan, each as that
 * scan's row (its projected columns, then its metadata columns). Each scan is a side output; the
 * main output stays empty.
 */
final class SplitRows extends ProcessFunction<RowData, RowData> {

    private static final long serialVersionUID = 1L;

    private final int errorIndex;
    private final List<Scan> scans = new ArrayList<>();

    /** Set once a job graph has taken this function: scans added later would not reach that job. */
    transient volatile boolean spent;

    private transient Scan[] valid;
    private transient Scan[] bad;

    SplitRows(int errorIndex) {
        this.errorIndex = errorIndex;
    }

    /** A scan's side output: its rows are the whole read's fields at {@code fields}. */
    synchronized OutputTag<RowData> add(boolean badRows, int[] fields, TypeInformation<RowData> type) {
        final OutputTag<RowData> tag = new OutputTag<>("flinksql-gen-rows-" + scans.size(), type);
        scans.add(new Scan(badRows, fields, tag));
        return tag;
    }

    @Override
    public void open(org.apache.flink.api.common.functions.OpenContext context) {
        valid = scans.stream().filter(s -> !s.bad).toArray(Scan[]::new);
        bad = scans.stream().filter(s -> s.bad).toArray(Scan[]::new);
    }

    @Override
    public void processElement(RowData row, Context ctx, Collector<RowData> out) {
        for (Scan scan : row.isNullAt(errorIndex) ? valid : bad) {
            ctx.output(scan.tag, project(row, scan.fields));
        }
    }

    private static RowData project(RowData row, int[] fields) {
        if (!(row instanceof GenericRowData)) { // deserialized (a broken chain): a view, copied downstream
            return ProjectedRowData.from(fields).replaceRow(row);
        }
        final GenericRowData whole = (GenericRowData) row;
        final GenericRowData projected = new GenericRowData(whole.getRowKind(), fields.length);
        for (int i = 0; i < fields.length; i++) {
            projected.setField(i, whole.getField(fields[i]));
        }
        return projected;
    }

    private void writeObject(ObjectOutputStream out) throws IOException {
        spent = true;
        out.defaultWriteObject();
    }

    private static final class Scan implements Serializable {
        private static final long serialVersionUID = 1L;

        final boolean bad;
        final int[] fields;
        final OutputTag<RowData> tag;

        Scan(boolean bad, int[] fields, OutputTag<RowData> tag) {
            this.bad = bad;
            this.fields = fields;
            this.tag = tag;
        }
    }
}
