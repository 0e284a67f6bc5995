"""lucia-deploy: build images and bring a stack up, down, or report on it."""
