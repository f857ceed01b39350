/**
 * Dynamic batching: {@link ai.nos.internal.batch.DynamicBatcher} queues the requests of one model
 * replica and hands them, gathered into a {@link ai.nos.internal.batch.Batch}, to a
 * {@link ai.nos.internal.batch.BatchRunner}, then splits the batched outputs back per request.
 * Pure Java: the runner that moves a batch to the device lives with the native binding. Not API.
 */
package ai.nos.internal.batch;
