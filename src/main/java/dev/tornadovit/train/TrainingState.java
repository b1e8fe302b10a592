package dev.tornadovit.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;

import java.util.List;

/**
 * Where a run stands, saved in its checkpoints so that {@code --resume} continues exactly: the next batch to train
 * on, the optimiser step (which fixes the learning rate), the best accuracy so far and the metrics history.
 * Running sums of the current epoch are kept so its reported training loss is also unaffected by a resume.
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
public record TrainingState(int epoch, int nextBatch, long globalStep, double bestAccuracy, int bestEpoch,
                            double elapsedSeconds, double epochLossSum, long epochCorrect, long epochSeen,
                            List<EpochRecord> history) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public static TrainingState start() {
        return new TrainingState(0, 0, 0, -1, -1, 0, 0, 0, 0, List.of());
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public static TrainingState fromJson(String json, String source) {
        try {
            return JSON.readValue(json, TrainingState.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(source + ": training state is not valid: " + e.getOriginalMessage());
        }
    }
}
