/**
 * Field-by-field JSON readers whose messages name the path, shared by the spec reader and nos-hub's
 * catalog reader. Not API; exported only to nos-hub.
 */
package ai.nos.internal.json;
