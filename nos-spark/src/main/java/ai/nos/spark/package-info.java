/**
 * NOS inside Apache Spark: {@link ai.nos.spark.NosTransformer}, a Spark ML transformer that scores
 * the rows of a DataFrame in batches on each executor's GPUs (or its CPU) with one copy of the
 * model per executor JVM, and {@link ai.nos.spark.NosSpark}, the entry points around it (a one-call
 * {@code predict}, a SQL function {@code nos_predict}, and the record of where models loaded).
 * Everything else in the package is package-private.
 */
package ai.nos.spark;
