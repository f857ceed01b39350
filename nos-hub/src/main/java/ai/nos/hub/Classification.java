package ai.nos.hub;

/**
 * One class of an {@link ImageClassifier}'s answer.
 *
 * @param label the class's label, or its index as text when the model has no labels
 * @param index the class's index in the model's output
 * @param score the softmax probability of the class, in [0, 1]
 */
public record Classification(String label, int index, float score) {}
