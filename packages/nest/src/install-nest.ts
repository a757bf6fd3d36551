import { install, frameworkInfo } from '@agent/core/internal'

// First, so the process reports Nest as its framework, not the platform under it.
install({ framework: frameworkInfo('@nestjs/core'), frameworkLoaded: false })
