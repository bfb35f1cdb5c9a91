"""The sandbox: local SSH boxes in containers, the images they run, and the demo."""
