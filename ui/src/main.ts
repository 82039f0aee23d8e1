import { mount } from 'svelte'
import App from './App.svelte'
import { installLinkHandler } from './lib/router.svelte.js'
import './app.css'

installLinkHandler()
mount(App, { target: document.getElementById('app')! })
