"""Model families (one module each, declared to ``hpo.catalog``) and the pieces they share."""
