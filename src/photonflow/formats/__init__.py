"""File and wire formats: PZF frames, PYME metadata, series layout, HDF5 results (.h5r)."""
