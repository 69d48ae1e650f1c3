"""Deploy a repository to Inference Endpoints: first, exactly the files it uploads."""
