/**
 * Model optimization before serving (precision, memory format, freezing, CUDA graphs, AOTInductor,
 * TensorRT, an on-disk cache of compiled artifacts). The module exists so the build and the
 * dependency graph are in place; its API arrives with issue #5 and nothing is exported yet.
 */
package ai.nos.optim;
