"""clusterpreneur."""
