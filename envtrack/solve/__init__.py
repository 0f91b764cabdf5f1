"""The build stage: plan -> compile -> solve on BuildKit -> tag, and the build stamp."""
