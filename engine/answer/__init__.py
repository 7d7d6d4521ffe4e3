"""The Overview's answer to "do I need a GPU for this job?": `verdict` forms it from the
analysis layer's numbers, `explain` turns it into words, a table and its chart."""
