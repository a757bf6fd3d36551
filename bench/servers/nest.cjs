require('reflect-metadata')
const { Controller, Get, Param, Module } = require('@nestjs/common')
const { NestFactory } = require('@nestjs/core')
class UsersController {
  find(id) { return { id, name: 'Ada', roles: ['admin'] } }
}
Get(':id')(UsersController.prototype, 'find', Object.getOwnPropertyDescriptor(UsersController.prototype, 'find'))
Param('id')(UsersController.prototype, 'find', 0)
Controller('users')(UsersController)
class AppModule {}
const imports = process.env.BENCH_MODE === 'agent' ? [require('@agent/nest').AgentModule.forRoot()] : []
Module({ imports, controllers: [UsersController] })(AppModule)
NestFactory.create(AppModule, { logger: false }).then(async (app) => {
  await app.listen(Number(process.env.PORT), '127.0.0.1')
  process.stdout.write('ready\n')
  process.on('SIGTERM', () => app.close())
})
