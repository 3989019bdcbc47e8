package org.flinksqlgen.kafka;

import org.apache.flink.api.common.eventtime.TimestampAssigner;
import org.apache.flink.api.common.eventtime.TimestampAssignerSupplier;
import org.apache.flink.api.common.eventtime.WatermarkAlignmentParams;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.utils.ProjectedRowData;

/**
 * A scan's watermarks (the planner generates them for the scan's own row) on the whole read's
 * rows, seen through the scan's projection. Every scan of one table has the same WATERMARK, so the
 * shared read's watermarks are the same whichever scan gives them.
 */
final class ProjectedWatermarks implements WatermarkStrategy<RowData> {

    private static final long serialVersionUID = 1L;

    private final WatermarkStrategy<RowData> scan;
    private final int[] fields;

    ProjectedWatermarks(WatermarkStrategy<RowData> scan, int[] fields) {
        this.scan = scan;
        this.fields = fields;
    }

    @Override
    public WatermarkGenerator<RowData> createWatermarkGenerator(WatermarkGeneratorSupplier.Context context) {
        final WatermarkGenerator<RowData> generator = scan.createWatermarkGenerator(context);
        final ProjectedRowData view = ProjectedRowData.from(fields); // the generator keeps no row
        return new WatermarkGenerator<RowData>() {
            @Override
            public void onEvent(RowData row, long timestamp, WatermarkOutput output) {
                generator.onEvent(view.replaceRow(row), timestamp, output);
            }

            @Override
            public void onPeriodicEmit(WatermarkOutput output) {
                generator.onPeriodicEmit(output);
            }
        };
    }

    @Override
    public TimestampAssigner<RowData> createTimestampAssigner(TimestampAssignerSupplier.Context context) {
        final TimestampAssigner<RowData> assigner = scan.createTimestampAssigner(context);
        final ProjectedRowData view = ProjectedRowData.from(fields);
        return (row, timestamp) -> assigner.extractTimestamp(view.replaceRow(row), timestamp);
    }

    @Override
    public WatermarkAlignmentParams getAlignmentParameters() {
        return scan.getAlignmentParameters();
    }
}
