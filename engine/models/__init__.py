"""The trained models and their training: LightGCN (one process or sharded across ranks), the
GRU sequence model, the influence model, the repeat-purchase models (BTYD) and the graph
centralities the influence baselines read. Nothing here knows what a profile field is."""
