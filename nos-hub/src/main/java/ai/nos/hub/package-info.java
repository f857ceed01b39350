/**
 * The model hub: a catalog of popular models, verified downloads and task facades
 * (classification, embeddings, detection). The module exists so the build and the dependency graph
 * are in place; its API arrives with issue #6 and nothing is exported yet.
 */
package ai.nos.hub;
