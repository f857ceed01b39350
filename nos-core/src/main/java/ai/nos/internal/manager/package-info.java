/**
 * The model manager behind {@link ai.nos.ModelManager}: placement, eviction, replicas and the
 * lifecycle of loaded copies ({@link ai.nos.internal.manager.ManagerCore} has the design). Not API;
 * not exported.
 */
package ai.nos.internal.manager;
